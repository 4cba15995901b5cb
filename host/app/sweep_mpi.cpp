// MPI transport of a multi-process sweep (see sweep_mpi.hpp and docs/sweep.md). Messages are
// byte buffers: a request (empty), an assignment (the batch's case indices; none = stop), a row
// block (RowBlock, in the checkpoint's encoding: byte_codec.hpp), a batch report and a "gone"
// notice. Every worker message goes to rank 0; MPI keeps the order of the messages from one rank,
// so a batch's blocks arrive before its report.
#include "host/app/sweep_mpi.hpp"

#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "host/app/byte_codec.hpp"

namespace halite {

namespace {

enum Tag : int { kRequest = 1, kAssign, kBlock, kBatchDone, kGone };

// --- messages: host/app/byte_codec.hpp, the checkpoint's encoding ------------------------------

[[noreturn]] void raise_bad_message(const std::string& context, const std::string& why) {
  throw std::runtime_error(context + ": " + why);
}

void put_block(bytes::Writer& w, const RowBlock& b) {
  w.u64(b.cells.size());
  for (int c : b.cells) w.i64(c);
  w.i64(b.first_cycle);
  w.u64(b.records.size());
  for (const auto& cycle : b.records) {
    w.u64(cycle.size());
    for (const auto& r : cycle) bytes::write_record(w, r);
  }
  w.u64(b.extra.size());
  for (const auto& column : b.extra) w.f64s(column);
  for (const auto* texts : {&b.status, &b.reason}) {
    w.u64(texts->size());
    for (const auto& t : *texts) w.str(t);
  }
}

RowBlock get_block(bytes::Reader& in) {
  RowBlock b;
  b.cells.resize(in.count(8));
  for (int& c : b.cells) c = in.int32();
  b.first_cycle = in.int32();
  b.records.resize(in.count(8));
  for (auto& cycle : b.records) {
    cycle.resize(in.count(8));
    for (auto& r : cycle) r = bytes::read_record(in);
  }
  b.extra.resize(in.count(8));
  for (auto& column : b.extra) column = in.f64s();
  for (auto* texts : {&b.status, &b.reason}) {
    texts->resize(in.count(8));
    for (auto& t : *texts) t = in.str();
  }
  return b;
}

void put_cases(bytes::Writer& w, const std::vector<int>& cases) {
  w.u64(cases.size());
  for (int c : cases) w.i64(c);
}

std::vector<int> get_cases(bytes::Reader& in) {
  std::vector<int> cases(in.count(8));
  for (int& c : cases) c = in.int32();
  return cases;
}

void send(const std::string& bytes, int to, Tag tag) {
  MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, to, tag, MPI_COMM_WORLD);
}

std::string receive(int from, int tag, MPI_Status* status) {
  MPI_Probe(from, tag, MPI_COMM_WORLD, status);
  int count = 0;
  MPI_Get_count(status, MPI_BYTE, &count);
  std::string bytes(static_cast<std::size_t>(count), '\0');
  MPI_Recv(bytes.data(), count, MPI_BYTE, status->MPI_SOURCE, status->MPI_TAG, MPI_COMM_WORLD,
           MPI_STATUS_IGNORE);
  return bytes;
}

int env_int(const char* name) {
  const char* text = std::getenv(name);
  return text != nullptr && *text != '\0' ? std::atoi(text) : 0;
}

}  // namespace

bool started_by_mpi_launcher_with_several_ranks() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"})
    if (env_int(name) > 1) return true;
  return false;
}

int launcher_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"})
    if (const int rank = env_int(name); rank > 0) return rank;
  return 0;
}

MpiSweepCluster::MpiSweepCluster(int* argc, char*** argv) {
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  if (provided < MPI_THREAD_FUNNELED) {
    MPI_Finalize();
    throw std::runtime_error("the MPI library does not provide MPI_THREAD_FUNNELED");
  }
  // A failed MPI call ends the whole job (no rank waits for one that is gone).
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &local_rank_);
  MPI_Comm_size(node, &local_size_);
  MPI_Comm_free(&node);
}

MpiSweepCluster::~MpiSweepCluster() {
  MPI_Finalize();
}

bool MpiSweepCluster::poll(Message* message) {
  int waiting = 0;
  MPI_Status status;
  MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &waiting, &status);
  if (!waiting) return false;
  const std::string bytes = receive(status.MPI_SOURCE, status.MPI_TAG, &status);
  *message = Message{};
  message->source = status.MPI_SOURCE;
  bytes::Reader in(bytes, bytes.size(),
                   "sweep message from rank " + std::to_string(status.MPI_SOURCE),
                   &raise_bad_message);
  switch (status.MPI_TAG) {
    case kRequest:
      message->kind = Message::Kind::kRequest;
      break;
    case kBlock:
      message->kind = Message::Kind::kBlock;
      message->block = get_block(in);
      break;
    case kBatchDone:
      message->kind = Message::Kind::kBatchDone;
      message->report.failed = in.int32();
      message->report.cycles = in.int32();
      message->report.integrated = in.int32();
      message->report.skipped = in.int32();
      message->report.seconds = in.f64();
      break;
    case kGone:
      message->kind = Message::Kind::kGone;
      message->signal = in.int32();
      ++stopped_;  // it asks no more
      break;
    default:
      throw std::runtime_error("sweep message with unknown tag " + std::to_string(status.MPI_TAG) +
                               " from rank " + std::to_string(status.MPI_SOURCE));
  }
  if (in.position() != bytes.size()) in.fail("trailing bytes");
  return true;
}

void MpiSweepCluster::assign(int worker, const std::vector<int>& cases) {
  if (cases.empty()) ++stopped_;
  bytes::Writer out;
  put_cases(out, cases);
  send(out.bytes(), worker, kAssign);
}

void MpiSweepCluster::release_workers() {
  if (rank_ != 0) return;
  auto last = std::chrono::steady_clock::now();
  Message m;
  while (stopped_ < size_ - 1) {
    if (!poll(&m)) {
      if (std::chrono::steady_clock::now() - last > std::chrono::seconds(60)) abort(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    last = std::chrono::steady_clock::now();
    if (m.kind == Message::Kind::kRequest) assign(m.source, {});
  }
}

void MpiSweepCluster::abort(int exit_code) {
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);  // (MPI_Abort does not return)
}

std::vector<int> MpiSweepCluster::request() {
  send({}, 0, kRequest);
  // Wait without spinning: a blocking receive busy-polls in Open MPI and takes a core from the
  // ranks computing beside this one (rank 0's threads run beside its coordinator).
  for (int waiting = 0;;) {
    MPI_Iprobe(0, kAssign, MPI_COMM_WORLD, &waiting, MPI_STATUS_IGNORE);
    if (waiting) break;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  MPI_Status status;
  const std::string bytes = receive(0, kAssign, &status);
  bytes::Reader in(bytes, bytes.size(), "batch assignment from rank 0", &raise_bad_message);
  std::vector<int> cases = get_cases(in);
  if (in.position() != bytes.size()) in.fail("trailing bytes");
  return cases;
}

void MpiSweepCluster::send_block(const RowBlock& block) {
  bytes::Writer out;
  put_block(out, block);
  send(out.bytes(), 0, kBlock);
}

void MpiSweepCluster::send_batch_done(const SweepBatchReport& report) {
  bytes::Writer out;
  out.i64(report.failed);
  out.i64(report.cycles);
  out.i64(report.integrated);
  out.i64(report.skipped);
  out.f64(report.seconds);
  send(out.bytes(), 0, kBatchDone);
}

void MpiSweepCluster::send_gone(int signal) {
  bytes::Writer out;
  out.i64(signal);
  send(out.bytes(), 0, kGone);
}

}  // namespace halite
