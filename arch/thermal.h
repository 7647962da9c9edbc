// Thermal model (DESIGN section 5, reference/power-thermal-speed.md section 2.2): an N-node RC
// network C dT/dt = P - G (T - T_amb), i.e. dx/dt = A x + B p with x = T - T_amb,
// A = -C^-1 G, B = C^-1 e_heat. It is stepped with the exact zero-order-hold update
// x+ = Phi x + Gamma p, Phi = e^{A dt}, Gamma = A^-1 (Phi - I) B (exact for piecewise-constant
// power), or, for comparison, forward Euler (Phi = I + A dt, Gamma = dt B), which is unstable when
// dt exceeds twice the fastest time constant.
#pragma once

#include <Eigen/Dense>
#include <string>
#include <vector>

#include "base/schema.h"

namespace npusim::arch {

struct ThermalConfig {
  /// One thermal mass.
  struct Node {
    std::string name;    ///< e.g. die, package, board
    double capacitance;  ///< J/K
  };
  /// A thermal resistance between two nodes, or a node and "ambient".
  struct Link {
    std::string a, b;   ///< node names (b may be "ambient")
    double resistance;  ///< K/W
  };
  double ambient_c = 35;                                                        ///< ambient temperature (deg C)
  std::vector<Node> nodes = {{"die", 0.012}, {"package", 1.3}, {"board", 15}};  ///< masses
  std::vector<Link> links = {{"die", "package", 2.0}, {"package", "board", 4.0}, {"board", "ambient", 12.0}};
  std::string heat_node = "die";  ///< where the NPU's power enters
  double step_s = 1e-3;           ///< thermal step (s)
  std::string solver = "zoh";     ///< the ThermalSolver implementation (zoh | euler)
};
void describe_thermal(config::Section& s, ThermalConfig& c);

/// How the network's ODE dx/dt = A x + B p becomes a step x+ = Phi x + Gamma p over dt, for
/// power held constant over the step. Contract: a pure function of (A, B, dt); implementations
/// keep no state and register themselves (config key `thermal.solver`) where they are defined.
class ThermalSolver {
 public:
  /// The step matrices.
  struct Step {
    Eigen::MatrixXd phi;    ///< state transition over one step
    Eigen::VectorXd gamma;  ///< response to one watt held over the step
  };
  virtual ~ThermalSolver() = default;
  virtual Step discretize(const Eigen::MatrixXd& a, const Eigen::VectorXd& b, double dt) const = 0;
};
using ThermalSolverRegistry = config::Registry<ThermalConfig, ThermalSolver>;

class ThermalNetwork {
 public:
  /// Builds A, B and the step matrices for `step_s`. Throws std::invalid_argument for a network
  /// in which some node has no path to ambient (no steady state).
  ThermalNetwork(const ThermalConfig& c, double step_s);
  /// One step of step_s with constant `power_w` into the heat node.
  void step(double power_w);
  /// n steps of constant power: one at a time up to kDirectSteps, else in O(log n) by squaring.
  void step_many(double power_w, uint64_t n);
  static constexpr uint64_t kDirectSteps = 64;  ///< longer stretches are exponentiated
  /// Back to ambient everywhere.
  void reset();
  const Eigen::VectorXd& temperatures() const { return t_; }
  double heat_node_temperature() const { return t_(heat_); }
  double max_temperature() const { return t_.maxCoeff(); }
  /// Temperatures after infinitely long constant power: T_amb + G^-1 e_heat P.
  Eigen::VectorXd steady_state(double power_w) const;
  /// -1 / eigenvalues of A, ascending (s).
  std::vector<double> time_constants() const;
  /// Spectral radius of the step matrix Phi (< 1: the update is stable).
  double spectral_radius() const;
  /// Sum of the resistances from the heat node to ambient at steady state: (T_heat - T_amb) / P.
  double resistance_to_ambient() const;
  const ThermalConfig& config() const { return c_; }
  double step_s() const { return dt_; }

 private:
  ThermalConfig c_;
  double dt_;
  int heat_ = 0;           ///< heat node index
  Eigen::MatrixXd G_;      ///< conductance matrix (W/K)
  Eigen::MatrixXd A_;      ///< -C^-1 G
  Eigen::VectorXd B_;      ///< C^-1 e_heat
  Eigen::MatrixXd phi_;    ///< step matrix
  Eigen::VectorXd gamma_;  ///< input vector of the step
  Eigen::VectorXd t_;      ///< node temperatures (deg C)
};

}  // namespace npusim::arch
