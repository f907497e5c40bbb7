// ScheduleLoop: fires pipeline schedules (docs/pipelines.md, "Publish and schedule"). Called
// on the scheduler's thread at the start of every cycle, it does a pass at most once a second:
//   - a recurring schedule whose next slot has come is claimed in one store transaction
//     (pending_fire = the slot, next_fire = the first slot after now, so slots missed while the
//     server was down fire once, not once each), then its run is submitted with the tags
//     ferry.schedule=<id> and ferry.schedule.fire=<slot>, then the claim is cleared;
//   - a claim still pending when a pass starts (the server died between the claim and the
//     clear) is finished: when a run with the slot's tags exists it is recorded, otherwise the
//     run is submitted. A kill -9 anywhere in between makes exactly one run per slot;
//   - a datastore-triggered schedule lists its datastore path every polling_interval minutes
//     and compares (path, size, modified time, ETag) with the listing it saw last; the first
//     poll only records it; a change submits a run with data_path_parameter_name set to
//     {"datastore", "path": the first changed file by path}.
// What the loop decides is unit-tested with a fake clock and fake submit/list functions
// (schedules_test.cc); the server wires them to the API (server.cc).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "pipeline/schedule.h"
#include "store/published_store.h"

namespace ferry::server {

// A file of a watched datastore path, as the trigger compares it.
struct WatchedFile {
  std::string path;
  int64_t size = 0;
  double modified_at = 0;
  std::string etag;  // or a content hash, where the datastore has one
};

struct ScheduleLoopDeps {
  store::PublishedPipelineStore* store = nullptr;
  const Clock* clock = nullptr;
  // Submits the schedule's pipeline (its published pipeline or endpoint) with these parameter
  // values and tags, for the schedule's creator; the new pipeline run's id.
  std::function<Result<std::string>(const store::ScheduleRecord& schedule,
                                    const pipeline::ScheduleSpec& spec,
                                    const std::map<std::string, nlohmann::json>& parameters,
                                    const std::map<std::string, std::string>& tags)>
      submit;
  // The run already made for a slot (tags ferry.schedule=schedule_id, ferry.schedule.fire=
  // fire); "" when there is none.
  std::function<Result<std::string>(const std::string& schedule_id, const std::string& fire)>
      find_run;
  // The files of a datastore ("" = the workspace's default) under path.
  std::function<Result<std::vector<WatchedFile>>(const std::string& datastore,
                                                 const std::string& path)>
      list;
  // Seconds in a schedule's minute: 60, except in tests (FERRY_SCHEDULE_MINUTE_SECONDS, a
  // test knob read by server.cc) where a smaller value makes minutes pass quickly.
  double minute_seconds = 60;
};

class ScheduleLoop {
 public:
  explicit ScheduleLoop(ScheduleLoopDeps deps);

  // A pass, unless one ran less than a second ago.
  void Step();
  // A pass now (tests).
  void StepNow();

  // The slot a schedule created (or enabled, or updated) at `now` fires first: for a
  // recurrence without fixed times its start (now when it has no start_time); with hours,
  // minutes or week days the first of those times after now; for a datastore trigger, now
  // (its first poll, which only records what is there).
  static Result<double> FirstFire(const pipeline::ScheduleSpec& spec, double created_at, double now,
                                  double minute_seconds);
  // The first slot strictly after `after`.
  static Result<double> NextFire(const pipeline::ScheduleSpec& spec, double created_at,
                                 double after, double minute_seconds);
  // A slot as the ferry.schedule.fire tag writes it (the same text for the same slot).
  static std::string SlotText(double slot);

 private:
  void Pass(double now);
  // Finishes a pending claim: records its run, or submits it.
  void Resume(const store::ScheduleRecord& s);
  void FireRecurrence(const store::ScheduleRecord& s, const pipeline::ScheduleSpec& spec,
                      double now);
  void Poll(const store::ScheduleRecord& s, const pipeline::ScheduleSpec& spec, double now);
  // Submits the run of the pending slot and clears the claim.
  void Submit(const store::ScheduleRecord& s, double slot);
  // Clears the claim of `slot`, recording its run or the error that stopped it.
  void Finish(const std::string& id, double slot, const Result<std::string>& run);

  ScheduleLoopDeps d_;
  double last_pass_ = -1;
};

}  // namespace ferry::server
