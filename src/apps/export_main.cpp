// abc_cuda_export: a trained model as a safetensors file with PyTorch's names and layouts.
#include <filesystem>
#include <iostream>

#include "abc/checkpoint.hpp"
#include "abc/cli.hpp"
#include "abc/export.hpp"
#include "abc/io.hpp"
#include "abc/paths.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "Write a trained model's weights as a safetensors file with PyTorch's names and layouts\n"
      "(rnn.weight_ih_l0 ... of nn.LSTM / nn.RNN with a one-hot input, out.weight / out.bias of\n"
      "nn.Linear), the vocabulary and the model's settings in its metadata. tools/export_check.py\n"
      "loads it into PyTorch and compares the loss with ours."};
  app.name("abc_cuda_export");
  std::string checkpoint = abc::default_runs_dir() + "/latest";
  std::string out;
  app.add_option("checkpoint", checkpoint, "Checkpoint file, or a run folder (its best.ckpt)")->capture_default_str();
  app.add_option("--out", out, "The .safetensors file to write")->required();
  return abc::run_cli(app, argc, argv, [&] {
    if (std::filesystem::is_directory(checkpoint)) checkpoint += "/best.ckpt";
    const abc::Checkpoint ckpt = abc::load_checkpoint(checkpoint);
    const std::string bytes = abc::safetensors_of(ckpt);
    abc::write_file_atomic(out, bytes);
    std::cerr << "abc_cuda_export: " << ckpt.model.layers << "-layer " << abc::cell_kind_name(ckpt.model.cell)
              << " H=" << ckpt.model.hidden << ", vocabulary " << ckpt.vocab.size() << ", " << bytes.size()
              << " bytes -> " << out << "\n";
    return abc::kExitOk;
  });
}
