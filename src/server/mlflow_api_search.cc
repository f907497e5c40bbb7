// MLflow's searches' shared arguments (view type, paging, filter, order_by) and runs/search.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "server/mlflow_api_internal.h"
#include "server/mlflow_filter.h"

namespace ferry::server::mlflow {

using model::RunStatus;
using net::HandlerResult;
using net::HttpRequest;
using net::HttpResponse;

// view_type: ACTIVE_ONLY (default), DELETED_ONLY, ALL.
Result<std::string> Handler::ViewType(const json& j, const char* name) {
  auto it = j.find(name);
  auto v = it != j.end() && it->is_number_integer() ? Result<std::string>(it->dump())
                                                    : Str(j, name, false);
  if (!v.ok()) return v.status();
  std::string s = v->empty() ? "ACTIVE_ONLY" : *v;
  if (s == "1") s = "ACTIVE_ONLY";
  if (s == "2") s = "DELETED_ONLY";
  if (s == "3") s = "ALL";
  if (s != "ACTIVE_ONLY" && s != "DELETED_ONLY" && s != "ALL") {
    return Status::InvalidArgument(std::string("'") + name +
                                   "' must be ACTIVE_ONLY, DELETED_ONLY or ALL, got '" + s + "'");
  }
  return s;
}

bool Handler::InView(const std::string& view, const std::string& stage) {
  return view == "ALL" || (view == "ACTIVE_ONLY" ? stage != "deleted" : stage == "deleted");
}

Result<std::pair<size_t, size_t>> Handler::Page(size_t default_max, size_t limit) {
  auto max = IntField(p, "max_results");
  if (!max.ok()) return max.status();
  const size_t n = *max && **max > 0 ? static_cast<size_t>(**max) : default_max;
  if (n > limit)
    return InvalidValue("max_results", *p.find("max_results"),
                        "it may be at most " + std::to_string(limit));
  auto token = Str(p, "page_token", false);
  if (!token.ok()) return token.status();
  size_t offset = 0;
  if (!token->empty()) {
    char* end = nullptr;
    offset = std::strtoull(token->c_str(), &end, 10);
    if (*end != '\0') return Status::InvalidArgument("invalid 'page_token' '" + *token + "'");
  }
  return std::make_pair(offset, n);
}

Result<Handler::Search> Handler::SearchArgs(const char* view_field) {
  Search s;
  FERRY_ASSIGN_OR_RETURN(s.view, ViewType(p, view_field));
  FERRY_ASSIGN_OR_RETURN(s.page, Page(1000, 50000));
  FERRY_ASSIGN_OR_RETURN(std::string filter_text, Str(p, "filter", false));
  FERRY_ASSIGN_OR_RETURN(s.filter, mlflow::ParseFilter(filter_text));
  FERRY_ASSIGN_OR_RETURN(s.order, mlflow::ParseOrderBy(OrderByTexts()));
  return s;
}

std::vector<std::string> Handler::OrderByTexts() const {
  std::vector<std::string> out;
  if (auto it = p.find("order_by"); it != p.end() && !it->is_null()) {
    if (it->is_array()) {
      for (const auto& o : *it) out.push_back(o.is_string() ? o.get<std::string>() : o.dump());
    } else if (it->is_string()) {
      out.push_back(it->get<std::string>());
    }
  }
  return out;
}

// Runs of the experiments, filtered, sorted and paged. Cheap views first: a run's row and
// tags, plus its latest metric points and params (batched reads of one row per key) only when
// the filter or the order names them; JSON is built for the page returned only.
namespace {

// runs/search's experiment_ids: a list, or (as some clients send it) one id.
std::vector<std::string> ExperimentIds(const json& p) {
  std::vector<std::string> ids;
  if (auto it = p.find("experiment_ids"); it != p.end() && !it->is_null()) {
    if (it->is_array()) {
      for (auto& e : *it) ids.push_back(e.is_string() ? e.get<std::string>() : e.dump());
    } else {
      ids.push_back(it->is_string() ? it->get<std::string>() : it->dump());
    }
  }
  return ids;
}

}  // namespace

// The runs of these experiments (their MLflow ids) in the view ("ACTIVE_ONLY", ...), read
// light (without params and metrics).
Result<std::vector<model::Run>> Handler::RunsInView(const std::vector<std::string>& experiment_ids,
                                                    const std::string& view) {
  std::vector<model::Run> runs;
  for (const auto& eid : experiment_ids) {
    auto e = ExperimentById(eid);
    if (!e.ok()) return e.status();
    model::RunFilter f;
    f.experiment = e->name;
    f.include_children = true;
    f.light = true;
    f.limit = std::numeric_limits<int>::max();
    auto listed = d.store->ListRuns(f);
    if (!listed.ok()) return listed.status();
    for (auto& r : *listed) {
      if (InView(view, r.lifecycle_stage)) runs.push_back(std::move(r));
    }
  }
  return runs;
}

HttpResponse Handler::SearchRuns() {
  const std::vector<std::string> ids = ExperimentIds(p);
  if (ids.empty())
    return Fail(Status::InvalidArgument("'experiment_ids' must name at least one experiment"));
  auto args = SearchArgs("run_view_type");
  if (!args.ok()) return Fail(args.status());
  const auto& page = args->page;
  auto in_view = RunsInView(ids, args->view);
  if (!in_view.ok()) return Fail(in_view.status());
  std::vector<model::Run>& runs = *in_view;
  auto names = [&](const char* kind) {
    return std::any_of(args->filter.all.begin(), args->filter.all.end(),
                       [&](auto& c) { return c.kind == kind; }) ||
           std::any_of(args->order.begin(), args->order.end(),
                       [&](auto& o) { return o.kind == kind; });
  };
  std::map<std::string, RunData> data;
  const bool view_metrics = names("metrics"), view_params = names("params");
  if (view_metrics || view_params) {
    std::vector<std::string> all;
    all.reserve(runs.size());
    for (const auto& r : runs) all.push_back(r.id);
    auto loaded = LoadRunData(all, view_metrics, view_params);
    if (!loaded.ok()) return Fail(loaded.status());
    data = std::move(loaded).value();
  }
  struct Hit {
    const model::Run* run;
    mlflow::RunView view;
  };
  std::vector<Hit> hits;
  for (const auto& r : runs) {
    auto it = data.find(r.id);
    auto v = ViewOf(r, it == data.end() ? nullptr : &it->second);
    if (!v.ok()) return Fail(v.status());
    if (args->filter.Matches(*v)) hits.push_back({&r, std::move(v).value()});
  }
  std::stable_sort(hits.begin(), hits.end(), [&](const Hit& a, const Hit& b) {
    return mlflow::Before(args->order, a.view, b.view);
  });
  std::vector<std::string> shown;
  for (size_t i = page.first; i < hits.size() && shown.size() < page.second; ++i)
    shown.push_back(hits[i].run->id);
  auto shown_data = LoadRunData(shown, true, true);
  if (!shown_data.ok()) return Fail(shown_data.status());
  json out = json::array();
  for (size_t i = page.first; i < page.first + shown.size(); ++i) {
    auto j = RunJson(*hits[i].run, (*shown_data)[hits[i].run->id]);
    if (!j.ok()) return Fail(j.status());
    out.push_back(std::move(j).value());
  }
  const size_t shown_n = out.size();
  json r = json::object();
  r["runs"] = std::move(out);
  if (page.first + shown_n < hits.size())
    r["next_page_token"] = std::to_string(page.first + shown_n);
  return Reply(200, r);
}

}  // namespace ferry::server::mlflow
