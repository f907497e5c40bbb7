// The schedule loop (schedules.h): claims due slots, submits their runs exactly once, polls
// datastore-triggered schedules.
#include "server/schedules.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>

namespace ferry::server {

using nlohmann::json;

namespace {

// The loop's own state in a schedule's poll_state: the listing a datastore trigger saw last
// ("files": {path: [size, modified_at, etag]}), the changed path a pending claim submits
// ("pending_path"), and why the last slot made no run ("last_error").
json StateOf(const store::ScheduleRecord& s) {
  json j = s.poll_state.empty() ? json::object() : json::parse(s.poll_state, nullptr, false);
  return j.is_object() ? j : json::object();
}

json Listing(const std::vector<WatchedFile>& files) {
  json out = json::object();
  for (const auto& f : files) out[f.path] = json::array({f.size, f.modified_at, f.etag});
  return out;
}

// The first path (in path order) that is new or whose size, time or ETag changed.
std::string FirstChange(const json& before, const json& now) {
  std::string first;
  for (const auto& [path, v] : now.items()) {
    auto it = before.find(path);
    if (it != before.end() && *it == v) continue;
    if (first.empty() || path < first) first = path;
  }
  return first;
}

}  // namespace

ScheduleLoop::ScheduleLoop(ScheduleLoopDeps deps) : d_(std::move(deps)) {
  if (d_.minute_seconds <= 0) d_.minute_seconds = 60;
}

std::string ScheduleLoop::SlotText(double slot) {
  char buf[64];
  const double whole = std::floor(slot);
  if (slot == whole) {
    std::snprintf(buf, sizeof buf, "%.0f", slot);
  } else {
    std::snprintf(buf, sizeof buf, "%.3f", slot);
  }
  return buf;
}

Result<double> ScheduleLoop::NextFire(const pipeline::ScheduleSpec& spec, double created_at,
                                      double after, double minute_seconds) {
  if (!spec.recurrence) {
    return after + spec.polling_interval * minute_seconds;
  }
  FERRY_ASSIGN_OR_RETURN(auto tz, pipeline::TimeZone::Load(spec.recurrence->time_zone));
  // In tests a minute may be shorter: time is stretched around the creation so that the
  // recurrence's arithmetic still sees minutes (with minute_seconds 60 nothing changes).
  const auto anchor = static_cast<int64_t>(std::floor(created_at));
  const double scale = 60.0 / minute_seconds;
  const double v_after =
      static_cast<double>(anchor) + (after - static_cast<double>(anchor)) * scale;
  FERRY_ASSIGN_OR_RETURN(int64_t v,
                         pipeline::NextFireTime(*spec.recurrence, *tz, anchor,
                                                static_cast<int64_t>(std::floor(v_after))));
  return static_cast<double>(anchor) + static_cast<double>(v - anchor) / scale;
}

Result<double> ScheduleLoop::FirstFire(const pipeline::ScheduleSpec& spec, double created_at,
                                       double now, double minute_seconds) {
  if (!spec.recurrence) return now;
  // Strictly after a second before now: a start at now (or no start_time) fires now; fixed
  // hours, minutes or week days fire at their next time, never just because of the creation.
  return NextFire(spec, created_at, now - minute_seconds / 60.0, minute_seconds);
}

void ScheduleLoop::Step() {
  const double now = d_.clock->Now();
  if (last_pass_ >= 0 && now - last_pass_ < 1.0 && now >= last_pass_) return;
  last_pass_ = now;
  Pass(now);
}

void ScheduleLoop::StepNow() {
  last_pass_ = d_.clock->Now();
  Pass(last_pass_);
}

void ScheduleLoop::Pass(double now) {
  auto all = d_.store->ListSchedules();
  if (!all.ok()) {
    spdlog::warn("schedules: cannot list them: {}", all.status().ToString());
    return;
  }
  for (const auto& s : *all) {
    if (s.pending_fire != 0) {
      Resume(s);
      continue;
    }
    if (s.status != "Active" || s.next_fire == 0 || s.next_fire > now) continue;
    auto spec = pipeline::ScheduleFromJson(json::parse(s.spec, nullptr, false));
    if (!spec.ok()) {
      spdlog::warn("schedule {}: its definition no longer reads: {}", s.id,
                   spec.status().ToString());
      continue;
    }
    if (spec->recurrence) {
      FireRecurrence(s, *spec, now);
    } else {
      Poll(s, *spec, now);
    }
  }
}

void ScheduleLoop::FireRecurrence(const store::ScheduleRecord& s,
                                  const pipeline::ScheduleSpec& spec, double now) {
  auto next = NextFire(spec, s.created_at, now, d_.minute_seconds);
  double slot = 0;
  bool skipped = false;
  auto claimed = d_.store->UpdateSchedule(s.id, [&](store::ScheduleRecord* r) -> Status {
    // Changed since the listing (disabled, updated, claimed): leave it for the next pass.
    if (r->status != "Active" || r->pending_fire != 0 || r->next_fire != s.next_fire) {
      skipped = true;
      return Status::FailedPrecondition("changed since it was listed");
    }
    slot = r->next_fire;
    r->pending_fire = slot;
    // A recurrence that no longer computes stops (next_fire 0) rather than firing again.
    r->next_fire = next.ok() ? *next : 0;
    r->updated_at = now;
    return Status::Ok();
  });
  if (!claimed.ok()) {
    if (!skipped) {
      spdlog::warn("schedule {}: cannot claim its slot: {}", s.id, claimed.status().ToString());
    }
    return;
  }
  if (!next.ok()) {
    spdlog::warn("schedule {}: no next slot: {}", s.id, next.status().ToString());
  }
  Submit(*claimed, slot);
}

void ScheduleLoop::Poll(const store::ScheduleRecord& s, const pipeline::ScheduleSpec& spec,
                        double now) {
  const double next = now + spec.polling_interval * d_.minute_seconds;
  auto listed = d_.list(spec.datastore_name, spec.path_on_datastore);
  double slot = 0;
  bool skipped = false;
  auto polled = d_.store->UpdateSchedule(s.id, [&](store::ScheduleRecord* r) -> Status {
    if (r->status != "Active" || r->pending_fire != 0 || r->next_fire != s.next_fire) {
      skipped = true;
      return Status::FailedPrecondition("changed since it was listed");
    }
    r->next_fire = next;
    r->updated_at = now;
    json state = StateOf(*r);
    if (!listed.ok()) {
      state["last_error"] = "listing datastore '" + spec.datastore_name + "' path '" +
                            spec.path_on_datastore + "': " + listed.status().message();
      r->poll_state = state.dump();
      return Status::Ok();
    }
    json files = Listing(*listed);
    const bool first = !state.contains("files");
    const std::string changed = first ? "" : FirstChange(state["files"], files);
    state["files"] = files;
    state["polled_at"] = now;
    if (!changed.empty()) {
      slot = now;
      r->pending_fire = slot;
      state["pending_path"] = changed;
    }
    r->poll_state = state.dump();
    return Status::Ok();
  });
  if (!polled.ok()) {
    if (!skipped) {
      spdlog::warn("schedule {}: cannot record its poll: {}", s.id, polled.status().ToString());
    }
    return;
  }
  if (slot != 0) Submit(*polled, slot);
}

void ScheduleLoop::Resume(const store::ScheduleRecord& s) {
  const double slot = s.pending_fire;
  auto run = d_.find_run(s.id, SlotText(slot));
  if (!run.ok()) {
    spdlog::warn("schedule {}: cannot look for the run of slot {}: {}", s.id, SlotText(slot),
                 run.status().ToString());
    return;  // the next pass tries again
  }
  if (!run->empty()) {
    Finish(s.id, slot, *run);
    return;
  }
  Submit(s, slot);
}

void ScheduleLoop::Submit(const store::ScheduleRecord& s, double slot) {
  auto spec = pipeline::ScheduleFromJson(json::parse(s.spec, nullptr, false));
  if (!spec.ok()) {
    Finish(s.id, slot, spec.status());
    return;
  }
  std::map<std::string, json> params;
  if (spec->pipeline_parameters.is_object()) {
    for (const auto& [k, v] : spec->pipeline_parameters.items()) params[k] = v;
  }
  std::map<std::string, std::string> tags = {{"ferry.schedule", s.id},
                                             {"ferry.schedule.fire", SlotText(slot)}};
  const json state = StateOf(s);
  if (auto p = state.find("pending_path"); p != state.end() && p->is_string()) {
    tags["ferry.schedule.path"] = p->get<std::string>();
    if (!spec->data_path_parameter_name.empty()) {
      params[spec->data_path_parameter_name] = {{"datastore", spec->datastore_name},
                                                {"path", p->get<std::string>()}};
    }
  }
  auto run = d_.submit(s, *spec, params, tags);
  if (run.ok()) {
    spdlog::info("schedule {} ({}): slot {} submitted pipeline run {}", s.id, s.name,
                 SlotText(slot), *run);
  } else {
    spdlog::warn("schedule {} ({}): slot {} made no run: {}", s.id, s.name, SlotText(slot),
                 run.status().ToString());
  }
  Finish(s.id, slot, run);
}

void ScheduleLoop::Finish(const std::string& id, double slot, const Result<std::string>& run) {
  bool skipped = false;
  auto done = d_.store->UpdateSchedule(id, [&](store::ScheduleRecord* r) -> Status {
    if (r->pending_fire != slot) {
      skipped = true;
      return Status::FailedPrecondition("not this claim");
    }
    r->pending_fire = 0;
    r->last_fire = slot;
    json state = StateOf(*r);
    state.erase("pending_path");
    if (run.ok()) {
      r->last_run_id = *run;
      state.erase("last_error");
    } else {
      state["last_error"] = run.status().message();
    }
    r->poll_state = state.dump();
    r->updated_at = d_.clock->Now();
    return Status::Ok();
  });
  if (!done.ok() && !skipped) {
    spdlog::warn("schedule {}: cannot clear the claim of slot {}: {} (the next pass does)", id,
                 SlotText(slot), done.status().ToString());
  }
}

}  // namespace ferry::server
