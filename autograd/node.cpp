#include "autograd/node.h"

#include <atomic>

namespace ortho::autograd {
namespace {

std::uint64_t next_sequence_nr() {
  static std::atomic<std::uint64_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

std::string TensorMeta::to_string() const {
  return shape.to_string() + " " + dtype_name(dtype) + " " + device.to_string();
}

Node::Node(std::string name, std::vector<Edge> next_edges)
    : name_(std::move(name)),
      next_edges_(std::move(next_edges)),
      sequence_nr_(next_sequence_nr()) {}

Node::~Node() {
  // Take over the nodes only this one keeps alive and destroy them one at a time, each
  // handing its own such nodes to the loop, instead of one nested destructor per graph level.
  std::vector<std::shared_ptr<Node>> orphans;
  const auto adopt = [&orphans](std::vector<Edge>& edges) {
    for (Edge& edge : edges) {
      if (edge.node != nullptr && edge.node.use_count() == 1)
        orphans.push_back(std::move(edge.node));
    }
  };
  adopt(next_edges_);
  while (!orphans.empty()) {
    std::shared_ptr<Node> node = std::move(orphans.back());
    orphans.pop_back();
    adopt(node->next_edges_);
  }
}

std::uint32_t Node::add_output(TensorMeta meta) {
  output_meta_.push_back(std::move(meta));
  return static_cast<std::uint32_t>(output_meta_.size() - 1);
}

}  // namespace ortho::autograd
