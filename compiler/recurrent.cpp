// Recurrent operators unrolled over the static sequence (recurrent.h), following the ONNX operator
// definitions (onnx/docs/Operators.md, LSTM/GRU/RNN; gate order iofc, zrh):
//   LSTM  i = f(x Wi' + h Ri' + Pi . c + Wbi + Rbi)    o = f(x Wo' + h Ro' + Po . c_new + Wbo + Rbo)
//         f = f(x Wf' + h Rf' + Pf . c + Wbf + Rbf)    g = g(x Wc' + h Rc' + Wbc + Rbc)
//         c_new = f . c + i . g                         h_new = o . h(c_new)
//   GRU   z = f(x Wz' + h Rz' + Wbz + Rbz)              r = f(x Wr' + h Rr' + Wbr + Rbr)
//         n = g(x Wh' + (r . h) Rh' + Rbh + Wbh)        (linear_before_reset = 0)
//         n = g(x Wh' + r . (h Rh' + Rbh) + Wbh)        (linear_before_reset = 1)
//         h_new = (1 - z) . n + z . h = n + z . (h - n)
//   RNN   h_new = f(x Wi' + h Ri' + Wbi + Rbi)
// x W' + h R' is one Gemm of [x, h] (a Concat per step, shared by the gates) with the constant
// [W'; R'] and the constant bias Wb + Rb in the accumulator. An initial state that is absent or a
// constant zero drops its terms at the first step (exporters pass zeros).
#include "compiler/recurrent.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>

#include "compiler/graph.h"
#include "compiler/lowering.h"
#include "compiler/onnx_values.h"
#include "compiler/op_registry.h"

namespace npusim::compiler {
namespace {

using Shapes = std::unordered_map<std::string, std::vector<int64_t>>;
constexpr int32_t kFloat = onnx::TensorProto_DataType_FLOAT;

/// A constant input of the recurrent node, decoded.
struct Const {
  std::vector<int64_t> dims;  ///< shape
  std::vector<double> v;      ///< row-major values
};

bool all_zero(const Const& c) {
  return std::all_of(c.v.begin(), c.v.end(), [](double x) { return x == 0; });
}

/// The activation functions the decomposition maps onto NPU operators (ONNX names, any case).
std::string activation_op(std::string name, const std::string& who) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
  if (lower == "sigmoid") return "Sigmoid";
  if (lower == "tanh") return "Tanh";
  if (lower == "relu") return "Relu";
  throw CompileError(who + ": activation '" + name +
                     "' is not supported (the unrolling maps Sigmoid, Tanh and Relu onto NPU operators)");
}

/// Builds the unrolled nodes of one recurrent node.
class Unroller {
 public:
  Unroller(std::string base, std::string who, std::set<std::string>& taken)
      : base_(std::move(base)), who_(std::move(who)), taken_(taken) {}

  std::vector<onnx::NodeProto> nodes;    ///< the replacement, in topological order
  std::vector<onnx::TensorProto> inits;  ///< the constants it reads

  /// A fresh tensor (and node) name: the recurrent node's name, then `what`.
  std::string fresh(const std::string& what) {
    std::string name = base_ + "/" + what;
    for (int k = 1; taken_.count(name); ++k) name = base_ + "/" + what + "_" + std::to_string(k);
    taken_.insert(name);
    return name;
  }
  /// Appends node `op` reading `ins`, named `what`, writing `out` (empty: a fresh tensor named as
  /// the node); returns its output.
  std::string node(const std::string& op, const std::vector<std::string>& ins, const std::string& what,
                   std::string out = "") {
    onnx::NodeProto p;
    p.set_op_type(op);
    p.set_name(fresh(what));
    if (out.empty()) out = p.name();
    for (const auto& i : ins) p.add_input(i);
    p.add_output(out);
    nodes.push_back(std::move(p));
    return out;
  }
  /// Sets an INT attribute on the last node.
  void attr_int(const char* name, int64_t v) {
    auto* a = nodes.back().add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto_AttributeType_INT);
    a->set_i(v);
  }
  /// Sets an INTS attribute on the last node.
  void attr_ints(const char* name, const std::vector<int64_t>& v) {
    auto* a = nodes.back().add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto_AttributeType_INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  /// A new float (or int64) initializer named after `what`.
  std::string constant(const std::string& what, const std::vector<int64_t>& dims, const std::vector<double>& v,
                       int32_t type = kFloat) {
    const std::string name = fresh(what);
    inits.push_back(make_tensor(name, type, dims, v));
    return name;
  }

  /// x reshaped to `dims` (a view on the device).
  std::string reshape(const std::string& x, const std::vector<int64_t>& dims, const std::string& what,
                      const std::string& out = "") {
    std::vector<double> d(dims.begin(), dims.end());
    const std::string shape =
        constant(what + "_shape", {static_cast<int64_t>(dims.size())}, d, onnx::TensorProto_DataType_INT64);
    return node("Reshape", {x, shape}, what, out);
  }
  /// xs concatenated along `axis`.
  std::string concat(const std::vector<std::string>& xs, int64_t axis, const std::string& what,
                     const std::string& out = "") {
    const std::string y = node("Concat", xs, what, out);
    attr_int("axis", axis);
    return y;
  }
  /// x with its axes permuted by `perm`.
  std::string transpose(const std::string& x, const std::vector<int64_t>& perm, const std::string& what,
                        const std::string& out = "") {
    const std::string y = node("Transpose", {x}, what, out);
    attr_ints("perm", perm);
    return y;
  }
  /// Row `r` of the computed rows x cols matrix `x2d`, as a 1 x cols tensor: a MatMul with the
  /// constant one-hot row e_r (exact: one product by 1 and zeros, summed in fp32).
  std::string select_row(const std::string& x2d, int64_t r, int64_t rows, const std::string& what) {
    std::vector<double> e(static_cast<size_t>(rows), 0.0);
    e[static_cast<size_t>(r)] = 1.0;
    return node("MatMul", {constant(what + "_onehot", {1, rows}, e), x2d}, what);
  }

  /// How errors name the recurrent node.
  const std::string& who() const { return who_; }

 private:
  std::string base_;              ///< the recurrent node's name, the prefix of every generated name
  std::string who_;               ///< how errors name it
  std::set<std::string>& taken_;  ///< every tensor and node name in the graph
};

/// The attribute `name` of `n`, or null.
const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const char* name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

/// What one recurrent node computes, read and checked from its attributes and inputs.
struct Spec {
  std::string op;                                               ///< LSTM, GRU or RNN
  int gates = 1;                                                ///< 4 (LSTM), 3 (GRU), 1 (RNN)
  int64_t seq = 0, batch = 0, input = 0, hidden = 0, dirs = 1;  ///< sizes
  bool reverse_only = false;                                    ///< direction = reverse
  int64_t layout = 0;                                           ///< 0: [seq, batch, ...]; 1: [batch, seq, ...]
  bool linear_before_reset = false;                             ///< GRU
  std::vector<std::vector<std::string>> act;  ///< per direction, the ONNX operator of each activation slot
  Const w, r, b, p;                           ///< weights; b and p empty when absent
};

/// The named input `i` of `n` as a constant: an initializer of `g`; null when absent or computed.
const onnx::TensorProto* initializer(const onnx::GraphProto& g, const std::unordered_map<std::string, int>& at,
                                     const onnx::NodeProto& n, int i) {
  if (i >= n.input_size() || n.input(i).empty()) return nullptr;
  auto it = at.find(n.input(i));
  return it == at.end() ? nullptr : &g.initializer(it->second);
}

/// The values of initializer `t` (`what` names it in errors).
Const decode(const onnx::TensorProto& t, const std::string& what) {
  Const c;
  c.dims.assign(t.dims().begin(), t.dims().end());
  c.v = values_of(t, what);
  return c;
}

/// Unrolls `n`, as `s` describes it, into `u`. Slot k of init_const/init_name is initial_h (0) or
/// initial_c (1): its values when it is a constant, its name when it is given at all.
void unroll(Unroller& u, const onnx::NodeProto& n, const Spec& s, const std::vector<std::optional<Const>>& init_const,
            const std::vector<std::string>& init_name) {
  const int64_t S = s.seq, B = s.batch, I = s.input, H = s.hidden, D = s.dirs, G = s.gates;
  // X as [seq, B * I], the rows select_row picks from.
  std::string x2d;
  if (s.layout == 0 || B == 1)
    x2d = u.reshape(n.input(0), {S, B * I}, "x_rows");
  else
    x2d = u.reshape(u.transpose(n.input(0), {1, 0, 2}, "x_seq_major"), {S, B * I}, "x_rows");
  std::vector<std::string> x_at(static_cast<size_t>(S));  // x_t as [B, I], made on first use
  auto x_step = [&](int64_t t) {
    std::string& x = x_at[static_cast<size_t>(t)];
    if (x.empty()) {
      const std::string tag = "x/t" + std::to_string(t);
      x = S == 1 ? x2d : u.select_row(x2d, t, S, tag);
      if (B != 1) x = u.reshape(x, {B, I}, tag + "_rows");
    }
    return x;
  };
  // The initial states of direction d, as [B, H] ("" = zero). Constants are sliced here; a
  // computed state is brought to [D, B * H] rows and its row d selected.
  auto initial = [&](int slot, const char* tag, int64_t d) -> std::string {
    const std::string dir = d ? "rev" : "fwd";
    if (const auto& c = init_const[static_cast<size_t>(slot)]) {
      if (all_zero(*c)) return "";
      std::vector<double> v;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < H; ++j)
          v.push_back(c->v[static_cast<size_t>(s.layout == 0 ? (d * B + b) * H + j : (b * D + d) * H + j)]);
      return u.constant(dir + "/" + tag + "0", {B, H}, v);
    }
    const std::string& name = init_name[static_cast<size_t>(slot)];
    if (name.empty()) return "";
    if (D == 1) return u.reshape(name, {B, H}, dir + "/" + tag + "0");
    std::string rows = s.layout == 0 || B == 1 ? name : u.transpose(name, {1, 0, 2}, std::string(tag) + "0_dir_major");
    rows = u.reshape(rows, {D, B * H}, std::string(tag) + "0_rows");
    return u.reshape(u.select_row(rows, d, D, dir + "/" + tag + "0_row"), {B, H}, dir + "/" + tag + "0");
  };
  // Weight blocks of gate g, direction d: [W_g'; R_g'] ((I + H) x H), W_g' alone, R_g' alone, and
  // the bias rows Wb_g, Rb_g.
  auto w_at = [&](int64_t d, int64_t g, int64_t j, int64_t k) {
    return s.w.v[static_cast<size_t>((d * G * H + g * H + j) * I + k)];
  };
  auto r_at = [&](int64_t d, int64_t g, int64_t j, int64_t k) {
    return s.r.v[static_cast<size_t>((d * G * H + g * H + j) * H + k)];
  };
  auto bias_at = [&](int64_t d, int64_t g, int64_t j, bool recurrent) {
    return s.b.v.empty() ? 0.0 : s.b.v[static_cast<size_t>(d * 2 * G * H + (recurrent ? G * H : 0) + g * H + j)];
  };
  struct Blocks {
    std::string wr, w, r, bias, wbias, rbias;  ///< "" when not needed or a zero bias
  };
  std::vector<std::vector<Blocks>> blocks(static_cast<size_t>(D), std::vector<Blocks>(static_cast<size_t>(G)));
  static const char* const kGateNames[3][4] = {{"i", "o", "f", "c"}, {"z", "r", "h", ""}, {"h", "", "", ""}};
  const int family = s.op == "LSTM" ? 0 : s.op == "GRU" ? 1 : 2;
  auto gate_name = [&](int64_t g) { return std::string(kGateNames[family][g]); };
  auto get_blocks = [&](int64_t d, int64_t g) -> Blocks& {
    Blocks& bl = blocks[static_cast<size_t>(d)][static_cast<size_t>(g)];
    if (!bl.w.empty()) return bl;
    const std::string tag = std::string(d ? "rev" : "fwd") + "/W_" + gate_name(g);
    std::vector<double> wr, w, r, bias, wb, rb;
    for (int64_t k = 0; k < I; ++k)
      for (int64_t j = 0; j < H; ++j) w.push_back(w_at(d, g, j, k));
    for (int64_t k = 0; k < H; ++k)
      for (int64_t j = 0; j < H; ++j) r.push_back(r_at(d, g, j, k));
    wr = w;
    wr.insert(wr.end(), r.begin(), r.end());
    for (int64_t j = 0; j < H; ++j) {
      wb.push_back(bias_at(d, g, j, false));
      rb.push_back(bias_at(d, g, j, true));
      bias.push_back(static_cast<double>(static_cast<float>(wb.back()) + static_cast<float>(rb.back())));
    }
    auto nonzero = [](const std::vector<double>& v) {
      return std::any_of(v.begin(), v.end(), [](double x) { return x != 0; });
    };
    bl.w = u.constant(tag + "x", {I, H}, w);
    bl.wr = u.constant(tag + "xh", {I + H, H}, wr);
    bl.r = u.constant(tag + "h", {H, H}, r);
    if (nonzero(bias)) bl.bias = u.constant(tag + "_bias", {H}, bias);
    if (nonzero(wb)) bl.wbias = u.constant(tag + "_bias_x", {H}, wb);
    if (nonzero(rb)) bl.rbias = u.constant(tag + "_bias_h", {H}, rb);
    return bl;
  };
  // One Gemm: a x b (+ bias row); b and bias constants.
  auto gemm = [&](const std::string& a, const std::string& b, const std::string& bias, const std::string& what) {
    std::vector<std::string> ins = {a, b};
    if (!bias.empty()) ins.push_back(bias);
    return u.node("Gemm", ins, what);
  };
  // Peephole rows (LSTM): P = [Pi, Po, Pf] per direction, "" when absent or zero.
  auto peephole = [&](int64_t d, int which) -> std::string {
    if (s.p.v.empty()) return "";
    std::vector<double> v(s.p.v.begin() + (d * 3 + which) * H, s.p.v.begin() + (d * 3 + which + 1) * H);
    if (std::all_of(v.begin(), v.end(), [](double x) { return x == 0; })) return "";
    return u.constant(
        std::string(d ? "rev" : "fwd") + "/P_" + "iof" [which], { H }, v);
  };

  std::vector<std::vector<std::string>> y_at(static_cast<size_t>(S), std::vector<std::string>(static_cast<size_t>(D)));
  std::vector<std::string> h_last(static_cast<size_t>(D)), c_last(static_cast<size_t>(D));
  for (int64_t d = 0; d < D; ++d) {
    const bool backward = s.reverse_only || d == 1;
    const std::string dir = d ? "rev" : "fwd";
    const auto& act = s.act[static_cast<size_t>(d)];
    std::string h = initial(0, "h", d), c = family == 0 ? initial(1, "c", d) : "";
    const std::string pi = family == 0 ? peephole(d, 0) : "", po = family == 0 ? peephole(d, 1) : "",
                      pf = family == 0 ? peephole(d, 2) : "";
    for (int64_t step = 0; step < S; ++step) {
      const int64_t t = backward ? S - 1 - step : step;
      const std::string at = dir + "/t" + std::to_string(t) + "/";
      const std::string x = x_step(t);
      const std::string xh = h.empty() ? x : u.concat({x, h}, 1, at + "xh");
      // The pre-activation of gate g: [x, h] [W_g'; R_g'] + Wb_g + Rb_g (x alone at a zero state).
      auto pre = [&](int64_t g) {
        Blocks& bl = get_blocks(d, g);
        return gemm(xh, h.empty() ? bl.w : bl.wr, bl.bias, at + gate_name(g) + "_pre");
      };
      auto apply = [&](const std::string& v, const std::string& op, const std::string& what) {
        return u.node(op, {v}, at + what);
      };
      std::string h_new;
      if (family == 0) {
        std::string ig = pre(0), og = pre(1), fg = pre(2), cg = pre(3);
        if (!c.empty() && !pi.empty()) ig = u.node("Add", {ig, u.node("Mul", {c, pi}, at + "Pi_c")}, at + "i_peep");
        if (!c.empty() && !pf.empty()) fg = u.node("Add", {fg, u.node("Mul", {c, pf}, at + "Pf_c")}, at + "f_peep");
        ig = apply(ig, act[0], "i");
        cg = apply(cg, act[1], "c");
        const std::string ic = u.node("Mul", {ig, cg}, at + "i_c");
        std::string c_new;
        if (c.empty()) {
          c_new = ic;  // f . c = 0
        } else {
          fg = apply(fg, act[0], "f");
          c_new = u.node("Add", {u.node("Mul", {fg, c}, at + "f_cprev"), ic}, at + "C");
        }
        if (!po.empty()) og = u.node("Add", {og, u.node("Mul", {c_new, po}, at + "Po_c")}, at + "o_peep");
        og = apply(og, act[0], "o");
        h_new = u.node("Mul", {og, apply(c_new, act[2], "h_C")}, at + "H");
        c = c_new;
      } else if (family == 1) {
        const std::string zg = apply(pre(0), act[0], "z"), rg = apply(pre(1), act[0], "r");
        Blocks& bl = get_blocks(d, 2);
        std::string ng;
        if (!s.linear_before_reset) {
          // [x, r . h] [Wh'; Rh'] + Wbh + Rbh
          const std::string xrh = h.empty() ? x : u.concat({x, u.node("Mul", {rg, h}, at + "r_h")}, 1, at + "x_rh");
          ng = gemm(xrh, h.empty() ? bl.w : bl.wr, bl.bias, at + "h_pre");
        } else {
          // x Wh' + Wbh + r . (h Rh' + Rbh)
          ng = gemm(x, bl.w, bl.wbias, at + "h_pre_x");
          const std::string rec = h.empty() ? bl.rbias : gemm(h, bl.r, bl.rbias, at + "h_pre_h");
          if (!rec.empty()) ng = u.node("Add", {ng, u.node("Mul", {rg, rec}, at + "r_hrec")}, at + "h_pre");
        }
        ng = apply(ng, act[1], "h_cand");
        if (h.empty())  // (1 - z) . n
          h_new = u.node("Sub", {ng, u.node("Mul", {zg, ng}, at + "z_n")}, at + "H");
        else  // n + z . (h - n)
          h_new = u.node("Add", {ng, u.node("Mul", {zg, u.node("Sub", {h, ng}, at + "h_n")}, at + "z_hn")}, at + "H");
      } else {
        h_new = apply(pre(0), act[0], "H");
      }
      h = h_new;
      y_at[static_cast<size_t>(t)][static_cast<size_t>(d)] = h;
    }
    h_last[static_cast<size_t>(d)] = h;
    c_last[static_cast<size_t>(d)] = c;
  }
  // Outputs: Y [seq, D, B, H] (layout 1: [B, seq, D, H]); Y_h, Y_c [D, B, H] (layout 1: [B, D, H]).
  auto output = [&](int i) { return i < n.output_size() ? n.output(i) : std::string(); };
  if (!output(0).empty()) {
    std::vector<std::string> rows;
    for (const auto& per_t : y_at) rows.insert(rows.end(), per_t.begin(), per_t.end());
    const std::string all = rows.size() == 1 ? rows[0] : u.concat(rows, 0, "Y_rows");
    if (s.layout == 0 || B == 1)
      u.reshape(all, s.layout == 0 ? std::vector<int64_t>{S, D, B, H} : std::vector<int64_t>{B, S, D, H}, "Y",
                output(0));
    else
      u.transpose(u.reshape(all, {S, D, B, H}, "Y_seq_major"), {2, 0, 1, 3}, "Y", output(0));
  }
  auto state_out = [&](const std::vector<std::string>& last, int i, const char* what) {
    if (output(i).empty()) return;
    const std::string all = D == 1 ? last[0] : u.concat(last, 0, std::string(what) + "_rows");
    if (s.layout == 0 || B == 1 || D == 1)
      u.reshape(all, s.layout == 0 ? std::vector<int64_t>{D, B, H} : std::vector<int64_t>{B, D, H}, what, output(i));
    else
      u.transpose(u.reshape(all, {D, B, H}, std::string(what) + "_dir_major"), {1, 0, 2}, what, output(i));
  };
  state_out(h_last, 1, "Y_h");
  if (family == 0) {
    if (!output(2).empty() && c_last[0].empty())
      throw CompileError(u.who() + ": Y_c of a zero state (an empty sequence) is not supported");
    state_out(c_last, 2, "Y_c");
  }
}

/// Reads and checks what `n` computes; false when X's shape is not known yet.
bool read_spec(const onnx::GraphProto& g, const std::unordered_map<std::string, int>& at, const onnx::NodeProto& n,
               const Shapes& shapes, const std::string& who, Spec& s) {
  s.op = n.op_type();
  s.gates = s.op == "LSTM" ? 4 : s.op == "GRU" ? 3 : 1;
  auto xs = shapes.find(n.input_size() ? n.input(0) : "");
  if (xs == shapes.end() || xs->second.size() != 3) return false;
  // The generated constants are float32, so X must be (an fp16 or double model would mismatch them).
  for (const auto* list : {&g.input(), &g.value_info()})
    for (const auto& vi : *list)
      if (vi.name() == n.input(0) && vi.type().tensor_type().elem_type() != kFloat)
        throw CompileError(who + ": X is not float32; the unrolling handles float32 models");
  auto int_attr = [&](const char* name, int64_t def) {
    const auto* a = find_attr(n, name);
    return a ? a->i() : def;
  };
  s.layout = int_attr("layout", 0);
  if (s.layout != 0 && s.layout != 1)
    throw CompileError(who + ": layout " + std::to_string(s.layout) + " is not defined (0 or 1)");
  s.seq = xs->second[s.layout == 0 ? 0 : 1];
  s.batch = xs->second[s.layout == 0 ? 1 : 0];
  s.input = xs->second[2];
  std::string direction = "forward";
  if (const auto* a = find_attr(n, "direction")) direction = a->s();
  if (direction == "bidirectional")
    s.dirs = 2;
  else if (direction == "reverse")
    s.reverse_only = true;
  else if (direction != "forward")
    throw CompileError(who + ": direction '" + direction + "' is not defined (forward, reverse, bidirectional)");
  if (find_attr(n, "clip")) throw CompileError(who + ": clip (cell clipping) is not supported by the unrolling");
  if (s.op == "LSTM" && int_attr("input_forget", 0) != 0)
    throw CompileError(who + ": input_forget = 1 (coupled input and forget gates) is not supported");
  s.linear_before_reset = s.op == "GRU" && int_attr("linear_before_reset", 0) != 0;
  // Weights: constants, split at compile time.
  auto weight = [&](int i, const char* what, bool required) -> Const {
    if (i >= n.input_size() || n.input(i).empty()) {
      if (required) throw CompileError(who + ": input " + what + " is missing");
      return {};
    }
    const onnx::TensorProto* t = initializer(g, at, n, i);
    if (!t)
      throw CompileError(who + ": " + what + " ('" + n.input(i) +
                         "') must be a constant (an initializer): the unrolling splits it into per-gate blocks at "
                         "compile time");
    return decode(*t, who + " " + what);
  };
  s.w = weight(1, "W", true);
  s.r = weight(2, "R", true);
  s.b = weight(3, "B", false);
  if (s.op == "LSTM") s.p = weight(7, "P", false);
  const int64_t G = s.gates;
  if (s.w.dims.size() != 3 || s.w.dims[0] != s.dirs || s.w.dims[1] % G || s.w.dims[2] != s.input)
    throw CompileError(who + ": W must be [" + std::to_string(s.dirs) + ", " + std::to_string(G) + " x hidden, " +
                       std::to_string(s.input) + "]");
  s.hidden = s.w.dims[1] / G;
  if (const auto* a = find_attr(n, "hidden_size"); a && a->i() != s.hidden)
    throw CompileError(who + ": hidden_size " + std::to_string(a->i()) + " does not match W (" +
                       std::to_string(s.hidden) + ")");
  const int64_t D = s.dirs, H = s.hidden;
  auto check = [&](const Const& c, const char* what, std::vector<int64_t> want) {
    if (!c.v.empty() && c.dims != want) throw CompileError(who + ": " + what + " has an unexpected shape");
  };
  check(s.r, "R", {D, G * H, H});
  check(s.b, "B", {D, 2 * G * H});
  check(s.p, "P", {D, 3 * H});
  // sequence_lens: absent, or every sequence full (padding is not modelled).
  if (n.input_size() > 4 && !n.input(4).empty()) {
    const onnx::TensorProto* t = initializer(g, at, n, 4);
    if (!t) throw CompileError(who + ": sequence_lens must be a constant whose entries all equal the sequence length");
    for (double len : values_of(*t, who + " sequence_lens"))
      if (static_cast<int64_t>(len) != s.seq)
        throw CompileError(who + ": sequence_lens holds " + std::to_string(static_cast<int64_t>(len)) +
                           "; only full sequences (every entry " + std::to_string(s.seq) + ") are supported");
  }
  // Activations: per direction, the slots f, g, h (LSTM), f, g (GRU), f (RNN).
  const std::vector<std::string> defaults = s.op == "LSTM"  ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"}
                                            : s.op == "GRU" ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                                            : std::vector<std::string>{"Tanh"};
  std::vector<std::string> names;
  if (const auto* a = find_attr(n, "activations"))
    for (const auto& x : a->strings()) names.push_back(x);
  const size_t per = defaults.size();
  if (names.empty())
    for (int64_t d = 0; d < D; ++d) names.insert(names.end(), defaults.begin(), defaults.end());
  if (names.size() == per && D == 2) names.insert(names.end(), names.begin(), names.end());
  if (names.size() != per * static_cast<size_t>(D))
    throw CompileError(who + ": activations lists " + std::to_string(names.size()) + " functions; expected " +
                       std::to_string(per * static_cast<size_t>(D)));
  for (int64_t d = 0; d < D; ++d) {
    s.act.emplace_back();
    for (size_t k = 0; k < per; ++k) s.act.back().push_back(activation_op(names[d * per + k], who));
  }
  return true;
}

}  // namespace

int unroll_recurrent(onnx::GraphProto& g, const Shapes& shapes, const std::string& path) {
  bool any = false;
  for (const auto& n : g.node())
    any = any || ((n.domain().empty() || n.domain() == "ai.onnx") &&
                  (n.op_type() == "LSTM" || n.op_type() == "GRU" || n.op_type() == "RNN"));
  if (!any) return 0;
  std::unordered_map<std::string, int> at;
  for (int i = 0; i < g.initializer_size(); ++i) at[g.initializer(i).name()] = i;
  std::set<std::string> taken;
  for (const auto& t : g.initializer()) taken.insert(t.name());
  for (const auto& vi : g.input()) taken.insert(vi.name());
  for (const auto& n : g.node()) {
    taken.insert(n.name());
    for (const auto& o : n.output()) taken.insert(o);
  }
  google::protobuf::RepeatedPtrField<onnx::NodeProto> out;
  std::vector<onnx::TensorProto> new_inits;
  std::set<std::string>
      unrolled_outputs;  // outputs of unrolled nodes (their Squeeze/Unsqueeze readers become Reshapes)
  int count = 0;
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& n = g.node(i);
    const bool recurrent = (n.domain().empty() || n.domain() == "ai.onnx") &&
                           (n.op_type() == "LSTM" || n.op_type() == "GRU" || n.op_type() == "RNN");
    const std::string base = n.name().empty() ? n.op_type() + "_" + std::to_string(i) : n.name();
    const std::string who = path + ": node '" + base + "' (" + n.op_type() + ")";
    Spec s;
    if (!recurrent || !read_spec(g, at, n, shapes, who, s)) {
      *out.Add() = n;
      continue;
    }
    // The initial states: constants (decoded) or computed tensors.
    std::vector<std::optional<Const>> init_const(2);
    std::vector<std::string> init_name(2);
    for (int k = 0; k < (s.op == "LSTM" ? 2 : 1); ++k) {
      const int idx = 5 + k;
      if (idx >= n.input_size() || n.input(idx).empty()) continue;
      init_name[static_cast<size_t>(k)] = n.input(idx);
      if (const onnx::TensorProto* t = initializer(g, at, n, idx)) {
        init_const[static_cast<size_t>(k)] = decode(*t, who + (k ? " initial_c" : " initial_h"));
        if (static_cast<int64_t>(init_const[static_cast<size_t>(k)]->v.size()) != s.dirs * s.batch * s.hidden)
          throw CompileError(who + (k ? ": initial_c" : ": initial_h") + " has an unexpected shape");
      }
    }
    Unroller u(base, who, taken);
    unroll(u, n, s, init_const, init_name);
    for (auto& p : u.nodes) *out.Add() = std::move(p);
    for (auto& t : u.inits) new_inits.push_back(std::move(t));
    for (const auto& o : n.output())
      if (!o.empty()) unrolled_outputs.insert(o);
    ++count;
  }
  if (!count) return 0;
  // Squeeze/Unsqueeze of an unrolled output with a static result: the same bytes, a Reshape.
  for (auto& n : out) {
    if ((n.op_type() != "Squeeze" && n.op_type() != "Unsqueeze") || n.input_size() < 1 ||
        !unrolled_outputs.count(n.input(0)))
      continue;
    auto os = shapes.find(n.output(0));
    if (os == shapes.end()) continue;
    std::string shape = n.output(0) + "__shape";
    for (int k = 1; taken.count(shape); ++k) shape = n.output(0) + "__shape_" + std::to_string(k);
    taken.insert(shape);
    std::vector<double> d(os->second.begin(), os->second.end());
    new_inits.push_back(make_tensor(shape, onnx::TensorProto_DataType_INT64, {static_cast<int64_t>(d.size())}, d));
    const std::string data = n.input(0);
    n.set_op_type("Reshape");
    n.clear_input();
    n.add_input(data);
    n.add_input(shape);
    n.clear_attribute();
  }
  g.mutable_node()->Swap(&out);
  for (auto& t : new_inits) *g.add_initializer() = std::move(t);
  return count;
}

// ------------------------------------------------------------------ registration
namespace {

/// A recurrent node reaches the lowering only when preparation could not unroll it.
bool lower_unrolled(lowering::Lowering&, const Node& n, const OpInfo&) {
  throw CompileError(lowering::where(n) +
                     ": not unrolled by graph preparation (its input X has no static [seq, batch, input] shape)");
}

}  // namespace

void register_recurrent_ops(OpRegistry& r) {
  r.add("LSTM", lower_unrolled, kDecomposed);
  r.add("GRU", lower_unrolled, kDecomposed);
  r.add("RNN", lower_unrolled, kDecomposed);
}

}  // namespace npusim::compiler
