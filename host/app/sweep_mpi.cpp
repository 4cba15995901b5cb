// MPI transport of a multi-process sweep (see sweep_mpi.hpp and docs/sweep.md). Messages are
// byte buffers: a request (empty), an assignment (the batch's case indices; none = stop), a row
// block (RowBlock, serialised below), a batch report and a "gone" notice. Every worker message
// goes to rank 0; MPI keeps the order of the messages from one rank, so a batch's blocks arrive
// before its report.
#include "host/app/sweep_mpi.hpp"

#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace halite {

namespace {

enum Tag : int { kRequest = 1, kAssign, kBlock, kBatchDone, kGone };

// --- serialisation (the same binary on every rank: raw host representation) ------------------

// The fields of a record and of a row block, in message order: one list for writing (Record
// const) and reading.
template <class Archive, class Record>
void record_fields(Archive& a, Record& r) {
  a.field(r.cycle);
  a.field(r.charge_capacity);
  a.field(r.discharge_capacity);
  a.field(r.coulombic_efficiency);
  a.field(r.charge_energy);
  a.field(r.discharge_energy);
  a.field(r.lithium_inventory);
  a.field(r.duration);
  a.field(r.step_end_times);
  a.field(r.stats.steps);
  a.field(r.stats.residual_evals);
  a.field(r.stats.jacobian_evals);
  a.field(r.stats.nonlinear_iters);
  a.field(r.stats.error_test_fails);
  a.field(r.stats.nonlinear_conv_fails);
  a.field(r.aging);
  a.field(r.simulated);
  a.field(r.failed);
  a.field(r.failure);
}
template <class Archive, class Block>
void block_fields(Archive& a, Block& b) {
  a.field(b.cells);
  a.field(b.first_cycle);
  a.field(b.records);
  a.field(b.extra);
  a.field(b.status);
  a.field(b.reason);
}

class Writer {
 public:
  template <class T>
  void put(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto* p = reinterpret_cast<const char*>(&value);
    bytes_.insert(bytes_.end(), p, p + sizeof(T));
  }
  void put(const std::string& text) {
    put<std::uint64_t>(text.size());
    bytes_.insert(bytes_.end(), text.begin(), text.end());
  }
  template <class T>
  void put(const std::vector<T>& values) {
    put<std::uint64_t>(values.size());
    for (const T& v : values) put(v);
  }
  template <class T>
  void field(const T& value) {
    put(value);
  }
  void put(const CycleRecord& r) { record_fields(*this, r); }
  void put(const RowBlock& b) { block_fields(*this, b); }
  const std::vector<char>& bytes() const { return bytes_; }

 private:
  std::vector<char> bytes_;
};

class Reader {
 public:
  explicit Reader(const std::vector<char>& bytes) : bytes_(bytes) {}
  template <class T>
  void get(T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    need(sizeof(T));
    std::memcpy(&value, bytes_.data() + at_, sizeof(T));
    at_ += sizeof(T);
  }
  void get(std::string& text) {
    std::uint64_t n = 0;
    get(n);
    need(n);
    text.assign(bytes_.data() + at_, bytes_.data() + at_ + n);
    at_ += n;
  }
  template <class T>
  void get(std::vector<T>& values) {
    std::uint64_t n = 0;
    get(n);
    if (n > bytes_.size()) throw std::runtime_error("sweep message: bad vector length");
    values.resize(n);
    for (T& v : values) get(v);
  }
  template <class T>
  void field(T& value) {
    get(value);
  }
  void get(CycleRecord& r) { record_fields(*this, r); }
  void get(RowBlock& b) { block_fields(*this, b); }
  void expect_end() const {
    if (at_ != bytes_.size()) throw std::runtime_error("sweep message: trailing bytes");
  }

 private:
  void need(std::size_t n) const {
    if (bytes_.size() - at_ < n) throw std::runtime_error("sweep message: truncated");
  }
  const std::vector<char>& bytes_;
  std::size_t at_ = 0;
};

void send(const std::vector<char>& bytes, int to, Tag tag) {
  MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, to, tag, MPI_COMM_WORLD);
}

std::vector<char> receive(int from, int tag, MPI_Status* status) {
  MPI_Probe(from, tag, MPI_COMM_WORLD, status);
  int count = 0;
  MPI_Get_count(status, MPI_BYTE, &count);
  std::vector<char> bytes(static_cast<std::size_t>(count));
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
  const std::vector<char> bytes = receive(status.MPI_SOURCE, status.MPI_TAG, &status);
  *message = Message{};
  message->source = status.MPI_SOURCE;
  Reader in(bytes);
  switch (status.MPI_TAG) {
    case kRequest:
      message->kind = Message::Kind::kRequest;
      break;
    case kBlock:
      message->kind = Message::Kind::kBlock;
      in.get(message->block);
      break;
    case kBatchDone:
      message->kind = Message::Kind::kBatchDone;
      in.get(message->report);
      break;
    case kGone:
      message->kind = Message::Kind::kGone;
      in.get(message->signal);
      ++stopped_;  // it asks no more
      break;
    default:
      throw std::runtime_error("sweep message with unknown tag " + std::to_string(status.MPI_TAG) +
                               " from rank " + std::to_string(status.MPI_SOURCE));
  }
  in.expect_end();
  return true;
}

void MpiSweepCluster::assign(int worker, const std::vector<int>& cases) {
  if (cases.empty()) ++stopped_;
  Writer out;
  out.put(cases);
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
  const std::vector<char> bytes = receive(0, kAssign, &status);
  Reader in(bytes);
  std::vector<int> cases;
  in.get(cases);
  in.expect_end();
  return cases;
}

void MpiSweepCluster::send_block(const RowBlock& block) {
  Writer out;
  out.put(block);
  send(out.bytes(), 0, kBlock);
}

void MpiSweepCluster::send_batch_done(const SweepBatchReport& report) {
  Writer out;
  out.put(report);
  send(out.bytes(), 0, kBatchDone);
}

void MpiSweepCluster::send_gone(int signal) {
  Writer out;
  out.put(signal);
  send(out.bytes(), 0, kGone);
}

}  // namespace halite
