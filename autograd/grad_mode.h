#pragma once

namespace ortho::autograd {

// Whether ops on Variables record a graph on this thread (on by default). The engine turns
// it off while it runs backward functions, so a gradient computation records nothing.
bool is_grad_enabled();
void set_grad_enabled(bool enabled);

// Sets the grad mode for a scope and restores the previous one on exit.
class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled) : previous_(is_grad_enabled()) { set_grad_enabled(enabled); }
  ~GradModeGuard() { set_grad_enabled(previous_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool previous_;
};

// Records nothing in its scope: inference, optimizer steps, Function::forward.
class NoGradGuard : public GradModeGuard {
 public:
  NoGradGuard() : GradModeGuard(false) {}
};

// Records again in its scope, e.g. inside a Function's backward that recomputes a local graph.
class EnableGradGuard : public GradModeGuard {
 public:
  EnableGradGuard() : GradModeGuard(true) {}
};

}  // namespace ortho::autograd
