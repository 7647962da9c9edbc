#include "arch/thermal.h"

#include <yaml-cpp/yaml.h>

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <unsupported/Eigen/MatrixFunctions>

namespace npusim::arch {

namespace {

std::string scalar_of(const YAML::Node& n, const char* what) {
  if (!n.IsScalar()) throw std::invalid_argument(std::string("expected ") + what);
  return n.Scalar();
}

double number_of(const YAML::Node& n, const char* what, double min) {
  const std::string t = scalar_of(n, what);
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (t.empty() || *end || !std::isfinite(v) || v <= min)
    throw std::invalid_argument(std::string("expected ") + what + ", got '" + t + "'");
  return v;
}

}  // namespace

void describe_thermal(config::Section& s, ThermalConfig& c) {
  // Defaults: the edge fanless 4 W preset of reference/power-thermal-speed.md section 2.3
  // (5 x 5 mm die in a 21 x 21 mm FCBGA in still air: R_ja = 18 K/W, tau 24 ms / 4.8 s / 196 s).
  s.real("ambient", c.ambient_c, "C", "ambient temperature", 35, -273, 1000);
  s.custom(
      "nodes", "list of [name, J/K]", "J/K", "thermal masses: name and heat capacity",
      std::string("[[die, 0.012], [package, 1.3], [board, 15]]"),
      [&c](const YAML::Node& n) {
        if (!n.IsSequence() || n.size() == 0)
          throw std::invalid_argument("expected a list of [name, capacitance] pairs");
        std::vector<ThermalConfig::Node> v;
        for (const auto& e : n) {
          if (!e.IsSequence() || e.size() != 2) throw std::invalid_argument("expected [name, capacitance] pairs");
          const std::string name = scalar_of(e[0], "a node name");
          if (name == "ambient") throw std::invalid_argument("'ambient' is reserved for the ambient");
          for (const auto& o : v)
            if (o.name == name) throw std::invalid_argument("node '" + name + "' listed twice");
          v.push_back({name, number_of(e[1], "a positive capacitance (J/K)", 0)});
        }
        c.nodes = v;
      },
      [&c] {
        std::string t;
        for (const auto& n : c.nodes)
          t += (t.empty() ? "[" : ", ") +
               ("[" + config::yaml_quoted(n.name) + ", " + config::exact_number_text(n.capacitance) + "]");
        return t.empty() ? std::string("[]") : t + "]";
      });
  s.custom(
      "links", "list of [node, node, K/W]", "K/W", "thermal resistances between nodes or a node and 'ambient'",
      std::string("[[die, package, 2.0], [package, board, 4.0], [board, ambient, 12.0]]"),
      [&c](const YAML::Node& n) {
        if (!n.IsSequence() || n.size() == 0)
          throw std::invalid_argument("expected a list of [node, node, resistance] triples");
        std::vector<ThermalConfig::Link> v;
        for (const auto& e : n) {
          if (!e.IsSequence() || e.size() != 3)
            throw std::invalid_argument("expected [node, node, resistance] triples");
          v.push_back({scalar_of(e[0], "a node name"), scalar_of(e[1], "a node name"),
                       number_of(e[2], "a positive resistance (K/W)", 0)});
        }
        c.links = v;
      },
      [&c] {
        std::string t;
        for (const auto& l : c.links)
          t += (t.empty() ? "[" : ", ") + ("[" + config::yaml_quoted(l.a) + ", " + config::yaml_quoted(l.b) + ", " +
                                           config::exact_number_text(l.resistance) + "]");
        return t.empty() ? std::string("[]") : t + "]";
      });
  s.text("heat_node", c.heat_node, "the node the NPU's power heats", std::string("die"));
  s.time("step", c.step_s, "thermal step (power is held constant over a step)", 1e-3, 1e-6, 10);
  config::impl_choice<ThermalConfig, ThermalSolver>(s, c, c.solver, "solver", "how the network is stepped in time",
                                                    "zoh");
  s.check([&c] {
    auto known = [&](const std::string& name) {
      return name == "ambient" ||
             std::any_of(c.nodes.begin(), c.nodes.end(), [&](const auto& x) { return x.name == name; });
    };
    for (const auto& l : c.links) {
      if (!known(l.a) || !known(l.b))
        throw std::invalid_argument("link [" + l.a + ", " + l.b + "] names a node not in thermal.nodes");
      if (l.a == l.b) throw std::invalid_argument("link [" + l.a + ", " + l.b + "] connects a node to itself");
    }
    if (!known(c.heat_node) || c.heat_node == "ambient")
      throw std::invalid_argument("heat_node '" + c.heat_node + "' is not in thermal.nodes");
    if (!(c.step_s > 0)) throw std::invalid_argument("step must be positive");
    ThermalNetwork(c, c.step_s);  // every node must reach ambient
  });
}

ThermalNetwork::ThermalNetwork(const ThermalConfig& c, double step_s) : c_(c), dt_(step_s) {
  const auto n = static_cast<Eigen::Index>(c.nodes.size());
  auto index = [&](const std::string& name) -> int {
    for (size_t i = 0; i < c.nodes.size(); ++i)
      if (c.nodes[i].name == name) return static_cast<int>(i);
    return -1;  // ambient
  };
  G_ = Eigen::MatrixXd::Zero(n, n);
  for (const auto& l : c.links) {
    const int a = index(l.a), b = index(l.b);
    const double g = 1.0 / l.resistance;
    if (a >= 0) G_(a, a) += g;
    if (b >= 0) G_(b, b) += g;
    if (a >= 0 && b >= 0) G_(a, b) -= g, G_(b, a) -= g;
  }
  heat_ = index(c.heat_node);
  // Every node needs a path to ambient, else G is singular (no steady state).
  Eigen::FullPivLU<Eigen::MatrixXd> lu(G_);
  if (lu.rank() < n)
    throw std::invalid_argument("thermal network: some node has no path to ambient (add a link to 'ambient')");
  Eigen::VectorXd cinv(n);
  for (Eigen::Index i = 0; i < n; ++i) cinv(i) = 1.0 / c.nodes[static_cast<size_t>(i)].capacitance;
  A_ = -(cinv.asDiagonal() * G_);
  B_ = Eigen::VectorXd::Zero(n);
  B_(heat_) = cinv(heat_);
  const ThermalSolver::Step step = ThermalSolverRegistry::make(c.solver, c)->discretize(A_, B_, dt_);
  phi_ = step.phi;
  gamma_ = step.gamma;
  reset();
}

void ThermalNetwork::reset() {
  t_ = Eigen::VectorXd::Constant(G_.rows(), c_.ambient_c);
}

void ThermalNetwork::step(double power_w) {
  const Eigen::VectorXd x = t_.array() - c_.ambient_c;
  t_ = (phi_ * x + gamma_ * power_w).array() + c_.ambient_c;
}

void ThermalNetwork::step_many(double power_w, uint64_t n) {
  if (n <= kDirectSteps) {
    for (uint64_t i = 0; i < n; ++i) step(power_w);
    return;
  }
  // x_{k+1} = Phi x_k + gamma P is affine, so n steps are the n-th power of the augmented matrix
  // [[Phi, gamma P], [0, 1]] applied to [x; 1]: repeated squaring takes O(log n) small products
  // (an idle stretch of years costs microseconds).
  const Eigen::Index m = phi_.rows();
  Eigen::MatrixXd a = Eigen::MatrixXd::Identity(m + 1, m + 1);
  a.topLeftCorner(m, m) = phi_;
  a.topRightCorner(m, 1) = gamma_ * power_w;
  Eigen::MatrixXd r = Eigen::MatrixXd::Identity(m + 1, m + 1);
  for (; n; n >>= 1) {
    if (n & 1) r = r * a;
    a = a * a;
  }
  const Eigen::VectorXd x = t_.array() - c_.ambient_c;
  t_ = (r.topLeftCorner(m, m) * x + r.topRightCorner(m, 1)).array() + c_.ambient_c;
}

Eigen::VectorXd ThermalNetwork::steady_state(double power_w) const {
  Eigen::VectorXd p = Eigen::VectorXd::Zero(G_.rows());
  p(heat_) = power_w;
  return G_.fullPivLu().solve(p).array() + c_.ambient_c;
}

std::vector<double> ThermalNetwork::time_constants() const {
  Eigen::EigenSolver<Eigen::MatrixXd> es(A_);
  std::vector<double> tau;
  for (Eigen::Index i = 0; i < es.eigenvalues().size(); ++i) tau.push_back(-1.0 / es.eigenvalues()(i).real());
  std::sort(tau.begin(), tau.end());
  return tau;
}

double ThermalNetwork::spectral_radius() const {
  Eigen::EigenSolver<Eigen::MatrixXd> es(phi_);
  double r = 0;
  for (Eigen::Index i = 0; i < es.eigenvalues().size(); ++i) r = std::max(r, std::abs(es.eigenvalues()(i)));
  return r;
}

double ThermalNetwork::resistance_to_ambient() const {
  return steady_state(1.0)(heat_) - c_.ambient_c;
}

}  // namespace npusim::arch
