// Where the default corpus lives. tools/fetch_corpus.sh writes the raw sources
// under <data>/raw and abc_cuda_corpus writes the training text to <data>/corpus.
#pragma once
#include <string>
#include <vector>

namespace abc {

// $ABC_CUDA_DATA when set, else the data/ folder of the source tree this was built from.
std::string default_data_dir();
// The raw sources of the default corpus, in the order they are read.
std::vector<std::string> default_sources();
// <data>/corpus: train.txt, val.txt.
std::string default_corpus_dir();
// $ABC_CUDA_RUNS when set, else the runs/ folder of the source tree. Each training run
// gets a folder in it, and runs/latest points at the newest one.
std::string default_runs_dir();

}  // namespace abc
