// PublishedPipelineStore: what the store keeps of published pipelines, pipeline endpoints and
// schedules (Azure ML SDK v1's PublishedPipeline, PipelineEndpoint and Schedule; the REST
// handlers are src/server/api_published.cc, the schedule loop src/server/schedules.cc).
//   - A published pipeline is a frozen, checked pipeline definition (pipeline::PipelineToJson)
//     under a random id, Active or Disabled; it is never changed otherwise.
//   - A pipeline endpoint is a stable name in front of numbered versions (0, 1, ...), each a
//     published pipeline, one of them the default that a submit without a version runs.
//   - A schedule holds its definition (pipeline::ScheduleToJson) and the loop's state: the next
//     slot it fires at, a slot claimed but not yet submitted (pending_fire, so a kill -9 between
//     the claim and the run is repaired on start and never fires twice), the last run it made,
//     and, when datastore-triggered, the listing it saw last.
//
// Thread-safety, errors and atomicity as MetadataStore's: any thread; NotFound names the
// pipeline, endpoint or schedule and says where to look; a failed call changes nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace ferry::store {

struct PublishedPipelineRecord {
  std::string id;  // random hex
  std::string name;
  std::string description;
  std::string version;            // free text the publisher gave (Azure's `version`)
  std::string spec;               // pipeline::PipelineToJson, as checked at publish
  std::string status = "Active";  // Active | Disabled
  bool continue_on_step_failure = false;
  std::string created_by;  // "" for the workspace token
  double created_at = 0;
};

struct PipelineEndpointRecord {
  std::string id;    // random hex
  std::string name;  // unique
  std::string description;
  int64_t default_version = 0;
  std::string status = "Active";  // Active | Disabled
  std::string created_by;
  double created_at = 0;
  // Filled by Get/List: pipelines[v] is version v's published pipeline.
  std::vector<std::string> pipelines;
};

struct ScheduleRecord {
  std::string id;  // random hex
  std::string name;
  // pipeline::ScheduleToJson (pipeline_id / pipeline_endpoint_id / experiment_name included).
  std::string spec;
  std::string status = "Active";  // Active | Disabled
  double next_fire = 0;           // the next slot (0: none, a datastore-triggered schedule polls)
  double pending_fire = 0;        // a slot claimed and not yet submitted; 0: none
  double last_fire = 0;           // the slot of the last run made
  std::string last_run_id;
  std::string poll_state;  // JSON: a datastore-triggered schedule's last listing; "" none yet
  std::string created_by;
  double created_at = 0;
  double updated_at = 0;
};

class PublishedPipelineStore {
 public:
  virtual ~PublishedPipelineStore() = default;

  // ---- published pipelines
  // AlreadyExists when the id is taken.
  virtual Status CreatePublishedPipeline(const PublishedPipelineRecord& p) = 0;
  virtual Result<PublishedPipelineRecord> GetPublishedPipeline(const std::string& id) = 0;
  // Newest first.
  virtual Result<std::vector<PublishedPipelineRecord>> ListPublishedPipelines(bool active_only) = 0;
  virtual Status SetPublishedPipelineStatus(const std::string& id, const std::string& status) = 0;

  // ---- pipeline endpoints
  // The endpoint with pipeline_id as its version 0 (the default). AlreadyExists names a
  // taken name; NotFound an unknown pipeline.
  virtual Result<PipelineEndpointRecord> CreatePipelineEndpoint(const PipelineEndpointRecord& e,
                                                                const std::string& pipeline_id) = 0;
  // By id, or else by name.
  virtual Result<PipelineEndpointRecord> GetPipelineEndpoint(const std::string& id_or_name) = 0;
  // By name.
  virtual Result<std::vector<PipelineEndpointRecord>> ListPipelineEndpoints() = 0;
  // Appends pipeline_id as the next version (the default when set_default); returns it.
  virtual Result<int64_t> AddPipelineEndpointVersion(const std::string& endpoint_id,
                                                     const std::string& pipeline_id,
                                                     bool set_default) = 0;
  // NotFound when the endpoint has no such version.
  virtual Status SetPipelineEndpointDefault(const std::string& endpoint_id, int64_t version) = 0;
  virtual Status SetPipelineEndpointStatus(const std::string& endpoint_id,
                                           const std::string& status) = 0;

  // ---- schedules
  virtual Status CreateSchedule(const ScheduleRecord& s) = 0;
  virtual Result<ScheduleRecord> GetSchedule(const std::string& id) = 0;
  // Newest first.
  virtual Result<std::vector<ScheduleRecord>> ListSchedules() = 0;
  // Reads the schedule, lets change() edit it and writes it back, in one transaction (the
  // schedule loop's claims and the REST updates never overwrite each other). A change that
  // returns an error leaves the record as it was. Returns the record as written.
  virtual Result<ScheduleRecord> UpdateSchedule(
      const std::string& id, const std::function<Status(ScheduleRecord*)>& change) = 0;
};

}  // namespace ferry::store
