// The thermal network's time steppers (ThermalSolver, chosen by `thermal.solver`).
#include <unsupported/Eigen/MatrixFunctions>

#include "arch/thermal.h"

namespace npusim::arch {
namespace {

/// Exact zero-order hold: Phi = e^{A dt}, Gamma = A^-1 (Phi - I) B. Exact for piecewise-constant
/// power and stable at any step (A's eigenvalues are negative, so |e^{A dt}| < 1).
class ZeroOrderHold final : public ThermalSolver {
 public:
  Step discretize(const Eigen::MatrixXd& a, const Eigen::VectorXd& b, double dt) const override {
    Step s;
    s.phi = (a * dt).exp();
    s.gamma = a.fullPivLu().solve((s.phi - Eigen::MatrixXd::Identity(a.rows(), a.cols())) * b);
    return s;
  }
};

/// Forward Euler: Phi = I + A dt, Gamma = B dt. Unstable once dt exceeds twice the fastest time
/// constant; kept for comparison (docs/power.md).
class ForwardEuler final : public ThermalSolver {
 public:
  Step discretize(const Eigen::MatrixXd& a, const Eigen::VectorXd& b, double dt) const override {
    return {Eigen::MatrixXd::Identity(a.rows(), a.cols()) + a * dt, b * dt};
  }
};

const bool registered = [] {
  ThermalSolverRegistry::add({"zoh", "exact zero-order hold (stable at any step)", [](config::Section&, auto&) {},
                              [](const ThermalConfig&) { return std::make_unique<ZeroOrderHold>(); }});
  ThermalSolverRegistry::add({"euler",
                              "forward Euler (for comparison; unstable for steps above 2x the fastest "
                              "time constant)",
                              [](config::Section&, auto&) {},
                              [](const ThermalConfig&) { return std::make_unique<ForwardEuler>(); }});
  return true;
}();

}  // namespace
}  // namespace npusim::arch
