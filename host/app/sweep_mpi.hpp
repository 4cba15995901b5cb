// `halite sweep` on MPI ranks (docs/sweep.md, "On several machines"): the SweepCluster of an MPI
// job. Compiled into the halite executable only, in a build with MPI (HALITE_ENABLE_MPI; the
// libraries and the Python module do not depend on MPI).
#pragma once

#include <memory>

#include "host/app/sweep.hpp"

namespace halite {

// Whether an MPI launcher (mpirun/mpiexec of Open MPI or MPICH, srun with PMI) started this
// process as one of more than one rank, judged from the launcher's environment, so that a
// halite started without a launcher never initialises MPI.
bool started_by_mpi_launcher_with_several_ranks();
// This process's rank as the launcher's environment gives it (0 when there is none), without
// initialising MPI.
int launcher_rank();

// The job this process is a rank of: initialises MPI (MPI_THREAD_FUNNELED: only the main thread
// calls MPI) and finalises it when destroyed. rank 0 coordinates (run_sweep), the others work
// (run_sweep_worker).
class MpiSweepCluster : public SweepCluster {
 public:
  MpiSweepCluster(int* argc, char*** argv);
  ~MpiSweepCluster() override;
  MpiSweepCluster(const MpiSweepCluster&) = delete;
  MpiSweepCluster& operator=(const MpiSweepCluster&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  // The rank's index among the ranks on its node (for the rank-to-GPU mapping).
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }

  bool poll(Message* message) override;
  void assign(int worker, const std::vector<int>& cases) override;
  [[noreturn]] void abort(int exit_code) override;
  std::vector<int> request() override;
  void send_block(const RowBlock& block) override;
  void send_batch_done(const SweepBatchReport& report) override;
  void send_gone(int signal) override;

  // Rank 0, after run_sweep: answers the workers not yet told to stop (a sweep refused before
  // it handed out any batch) so that they end; ends the job if one stays silent for a minute.
  void release_workers();

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  int stopped_ = 0;  // workers told to stop (rank 0)
};

}  // namespace halite
