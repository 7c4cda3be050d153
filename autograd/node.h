#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace ortho::autograd {

class Node;

// Where one gradient flows: into `node` as the gradient of its forward output `input_nr`.
// An invalid (null) edge marks a forward input that needs no gradient.
struct Edge {
  std::shared_ptr<Node> node;
  std::uint32_t input_nr = 0;

  bool valid() const { return node != nullptr; }
};

// Shape, dtype and device of a forward output: the engine checks each incoming gradient
// against it, and custom Functions get zeros made from it for outputs that got none.
struct TensorMeta {
  Shape shape;
  DType dtype = DType::Float32;
  Device device;

  static TensorMeta of(const Tensor& t) { return {t.shape(), t.dtype(), t.device()}; }
  bool matches(const Tensor& t) const {
    return t.shape() == shape && t.dtype() == dtype && t.device() == device;
  }
  Tensor zeros() const { return Tensor::zeros(shape, dtype, device); }
  // "[2, 3] float64 cpu", for error messages.
  std::string to_string() const;
};

// One recorded op of the graph. backward() maps the gradients of the op's forward outputs to
// the gradients of its forward inputs; next_edges() says where each of those goes.
class Node {
 public:
  Node(std::string name, std::vector<Edge> next_edges);
  // Iterative: destroying a graph tens of thousands of nodes deep must not recurse as deep.
  virtual ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // The op's name, used in every error the engine raises about this node.
  const std::string& name() const { return name_; }
  // One edge per forward input, in order.
  const std::vector<Edge>& next_edges() const { return next_edges_; }
  // One entry per forward output, in order; backward receives one gradient per entry.
  const std::vector<TensorMeta>& output_meta() const { return output_meta_; }
  // Declares the next forward output and returns its index.
  std::uint32_t add_output(TensorMeta meta);
  // Creation order. A node is created after the nodes its edges point to, so running ready
  // nodes latest-first follows the forward pass backwards (and frees memory early).
  std::uint64_t sequence_nr() const { return sequence_nr_; }

  // Gradients of the forward inputs (one per next edge; undefined where there is none) from
  // the gradients of the forward outputs (undefined where none flowed). Runs with grad mode off.
  virtual std::vector<Tensor> backward(std::vector<Tensor> grad_outputs) = 0;
  // Frees the tensors and state saved for backward; the engine calls it as soon as backward
  // has run (unless the graph is retained), so memory falls as the backward pass proceeds.
  virtual void release() {}

 private:
  std::string name_;
  std::vector<Edge> next_edges_;
  std::vector<TensorMeta> output_meta_;
  std::uint64_t sequence_nr_;
};

}  // namespace ortho::autograd
