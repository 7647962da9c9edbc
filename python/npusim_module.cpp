// Python bindings (pybind11): build configurations, compile ONNX models, run programs and models,
// run SCALE-Sim layer lists and evaluate workloads, with stats as dicts and tensors as NumPy
// arrays. docs/python.md; python/example.py.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <yaml-cpp/yaml.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "base/schema.h"
#include "base/version.h"
#include "compiler/graph.h"
#include "isa/diag.h"
#include "sim/npu_config.h"
#include "tools/topology/topology.h"
#include "tools/workload/workload.h"

namespace py = pybind11;
using namespace npusim;

namespace {

/// A configuration and the YAML text it was loaded from (overrides re-load that text, so every
/// check of the strict schema applies).
struct Config {
  config::NpuConfig cfg;  ///< loaded and checked
  std::string yaml;       ///< its source text
};

Config config_from_text(const std::string& yaml, const std::string& name) {
  return Config{config::load_npu_config_text(yaml, name), yaml};
}

Config load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw isa::InputError(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return config_from_text(ss.str(), path);
}

/// `{"mxu.rows": 32, "scratchpad.size": "1MiB"}` applied to a copy of `c`.
Config with_overrides(const Config& c, const py::dict& overrides) {
  YAML::Node root = YAML::Load(c.yaml);
  std::string label;
  for (const auto& kv : overrides) {
    const std::string key = py::str(kv.first);
    // Python values as YAML: bool, numbers and strings as scalars, lists as sequences.
    YAML::Node value;
    if (py::isinstance<py::bool_>(kv.second))
      value = kv.second.cast<bool>() ? "true" : "false";
    else if (py::isinstance<py::list>(kv.second) || py::isinstance<py::tuple>(kv.second))
      for (const auto& item : kv.second) value.push_back(std::string(py::str(item)));
    else
      value = std::string(py::str(kv.second));
    std::vector<std::string> parts;
    std::stringstream ks(key);
    for (std::string part; std::getline(ks, part, '.');) parts.push_back(part);
    YAML::Node node = root;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      YAML::Node next = node[parts[i]];
      if (!next.IsDefined() || !next.IsMap())
        throw isa::InputError("override '" + key + "': no section '" + parts[i] + "'");
      node.reset(next);
    }
    node[parts.back()] = value;
    label += (label.empty() ? "" : ", ") + key + "=" + std::string(py::str(kv.second));
  }
  YAML::Emitter e;
  e << root;
  return config_from_text(std::string(e.c_str()) + "\n", "overrides (" + label + ")");
}

py::dict config_dict(const Config& c) {
  const config::NpuConfig& n = c.cfg;
  py::dict d;
  d["name"] = n.name;
  d["clock_hz"] = n.clock_hz;
  d["mxu"] = py::dict(py::arg("impl") = n.mxu.impl, py::arg("rows") = n.mxu.rows, py::arg("cols") = n.mxu.cols,
                      py::arg("dataflow") = n.mxu.dataflow, py::arg("dtypes") = n.mxu.dtypes);
  d["scratchpad_bytes"] = n.spad.size_bytes;
  d["accumulator_bytes"] = n.acc.size_bytes;
  d["dram_impl"] = n.dram.impl;
  d["hash"] = n.hash();
  d["mxu_area_cells"] = mxu_area_cells(n.mxu.rows, n.mxu.cols);
  return d;
}

/// JSON text (our stats) to Python objects.
py::object from_json(const std::string& text) {
  return py::module_::import("json").attr("loads")(text);
}

/// A NumPy array to the host tensor the marshalling takes (C order, little-endian).
NpyArray to_host(const py::array& a) {
  const py::array c = py::array::ensure(a, py::array::c_style | py::array::forcecast);
  NpyArray t;
  const char kind = c.dtype().kind();
  const auto size = c.dtype().itemsize();
  t.descr = std::string(size == 1 ? "|" : "<") + kind + std::to_string(size);
  for (py::ssize_t i = 0; i < c.ndim(); ++i) t.shape.push_back(static_cast<uint64_t>(c.shape(i)));
  t.data.assign(static_cast<const uint8_t*>(c.data()), static_cast<const uint8_t*>(c.data()) + c.nbytes());
  return t;
}

py::array to_numpy(const NpyArray& t) {
  const py::dtype dt(t.descr);
  std::vector<py::ssize_t> shape(t.shape.begin(), t.shape.end());
  py::array a(dt, shape);
  std::memcpy(a.mutable_data(), t.data.data(), t.data.size());
  return a;
}

/// A compiled model and its program.
struct Model {
  compiler::CompiledModel m;  ///< program, bindings, host operators
  std::string name;           ///< model file
};

py::dict run_result(const RunResult& r, const Config& c, const isa::Program& p, const std::string& name) {
  py::dict d;
  d["ok"] = r.ok;
  d["cycles"] = r.total_cycles;
  d["seconds"] = r.seconds;
  d["fault"] = r.ok ? std::string() : r.fault_message;
  d["stats"] = from_json(stats_json(r, c.cfg, p, name));
  return d;
}

py::dict evaluation_dict(const Evaluation& e) {
  py::dict d;
  d["kind"] = e.kind;
  d["cycles"] = e.cycles;
  d["seconds"] = e.seconds;
  d["energy_j"] = e.energy_j;
  d["average_power_w"] = e.average_power_w;
  d["macs"] = e.macs;
  d["utilization"] = e.utilization;
  d["dram_bytes"] = e.dram_bytes;
  d["layers"] = e.layers;
  return d;
}

}  // namespace

PYBIND11_MODULE(npusim, m) {
  m.doc() = "npusim: a cycle-approximate NPU simulator (configs, compiler, simulator, layer lists)";
  m.attr("__version__") = kVersion;
  // Input errors (files, configs, models) become ValueError with npusim's message.
  py::register_exception<isa::InputError>(m, "InputError", PyExc_ValueError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const config::ConfigError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const compiler::CompileError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  py::class_<Config>(m, "Config", "A checked NPU configuration (configs/*.yaml schema).")
      .def(py::init(&load_config), py::arg("path"), "Loads a YAML config file.")
      .def_static("from_yaml", &config_from_text, py::arg("text"), py::arg("name") = "<python>",
                  "A config from YAML text.")
      .def("with_overrides", &with_overrides, py::arg("overrides"),
           "A copy with dotted keys set, e.g. {'mxu.rows': 32, 'scratchpad.size': '1MiB'}; checked like a file.")
      .def("to_dict", &config_dict, "The main parameters as a dict.")
      .def_property_readonly("yaml", [](const Config& c) { return c.yaml; })
      .def_property_readonly("summary", [](const Config& c) { return config::npu_config_summary(c.cfg); })
      .def("__repr__", [](const Config& c) {
        return "<npusim.Config " + c.cfg.name + " " + std::to_string(c.cfg.mxu.rows) + "x" +
               std::to_string(c.cfg.mxu.cols) + " " + c.cfg.mxu.dataflow + ">";
      });

  py::class_<Model>(m, "Model", "An ONNX model compiled for one configuration.")
      .def_property_readonly(
          "inputs",
          [](const Model& x) {
            py::list l;
            for (const auto& b : x.m.inputs) {
              const auto& io = io_entry(x.m.program, b.io_name);
              l.append(py::dict(py::arg("name") = b.onnx_name, py::arg("shape") = model_shape(io, b.nhwc)));
            }
            return l;
          })
      .def_property_readonly("outputs",
                             [](const Model& x) {
                               py::list l;
                               for (const auto& b : x.m.outputs) l.append(b.onnx_name);
                               return l;
                             })
      .def_property_readonly("operators", [](const Model& x) { return x.m.operators; })
      .def_property_readonly("host_operators", [](const Model& x) { return x.m.host_ops.size(); })
      .def_property_readonly("instructions", [](const Model& x) { return x.m.program.text.size(); });

  m.def(
      "compile",
      [](const std::string& path, const Config& c, const std::string& precision,
         const std::map<std::string, int64_t>& dims) {
        compiler::CompileOptions o;
        o.precision = precision;
        compiler::ImportOptions io;
        io.dims = dims;
        return Model{compiler::compile(compiler::import_onnx(path, io), target_info(c.cfg), o), path};
      },
      py::arg("model"), py::arg("config"), py::arg("precision") = "fp16",
      py::arg("dims") = std::map<std::string, int64_t>{},
      "Compiles an ONNX model for `config` (precision fp16 or bf16); `dims` fixes named dynamic\n"
      "dimensions, e.g. {'batch': 1}, as npusim compile --dim does.");

  m.def(
      "run",
      [](const Config& c, const Model& model, const py::dict& inputs, bool timing_only) {
        std::map<std::string, NpyArray> in;
        for (const auto& kv : inputs) in[py::str(kv.first)] = to_host(kv.second.cast<py::array>());
        RunOptions o;
        o.timing_only = timing_only;
        ModelRun r;
        {
          py::gil_scoped_release release;  // the simulation holds no Python objects
          r = run_model(c.cfg, model.m, in, o);
        }
        py::dict d = run_result(r.run, c, model.m.program, model.name);
        py::dict outs;
        for (const auto& [name, t] : r.outputs) outs[py::str(name)] = to_numpy(t);
        d["outputs"] = outs;
        return d;
      },
      py::arg("config"), py::arg("model"), py::arg("inputs"), py::arg("timing_only") = false,
      "Runs a compiled model on NumPy inputs (float32 for float inputs): {'ok', 'cycles', 'seconds', "
      "'fault', 'stats', 'outputs'}.");

  m.def(
      "run_program",
      [](const Config& c, const std::string& path, const py::dict& inputs, bool timing_only) {
        const isa::Program p = load_program(path);
        std::map<std::string, std::vector<uint8_t>> in;
        for (const auto& kv : inputs) {
          const std::string name = py::str(kv.first);
          const isa::IoTensor* io = nullptr;
          for (const auto& t : p.io)
            if (t.name == name && p.regions[t.region].role == isa::RegionRole::Input) io = &t;
          if (!io) throw isa::InputError("the program has no input tensor '" + name + "'");
          // The device format, or the user's one the IO table records (float32 NCHW ...).
          in[name] = program_input_bytes(*io, to_host(kv.second.cast<py::array>()), "input '" + name + "'");
        }
        if (timing_only)  // the math is skipped: inputs not given are zeros
          for (const auto& io : p.io) {
            if (p.regions[io.region].role != isa::RegionRole::Input || in.count(io.name)) continue;
            uint64_t bytes = isa::tensor_type_bytes(io.dtype);
            for (int k = 0; k < io.rank; ++k) bytes *= io.dims[k];
            in[io.name].assign(bytes, 0);
          }
        RunOptions o;
        o.timing_only = timing_only;
        RunResult r;
        {
          py::gil_scoped_release release;
          r = simulate(c.cfg, p, in, o);
        }
        py::dict d = run_result(r, c, p, path);
        py::dict outs;
        for (const auto& io : p.io) {
          auto it = r.outputs.find(io.name);
          if (it == r.outputs.end()) continue;
          outs[py::str(io.name)] = to_numpy(program_output_array(io, it->second));
        }
        d["outputs"] = outs;
        return d;
      },
      py::arg("config"), py::arg("program"), py::arg("inputs") = py::dict(), py::arg("timing_only") = false,
      "Runs a .npub/.npus program; inputs are arrays in the program's IO types and shapes, or in the "
      "user-facing types and layouts its IO table records (a compiled model's float32 NCHW), converted; "
      "outputs come back in the recorded form (with timing_only, inputs not given are zeros).");

  m.def(
      "run_topology",
      [](const Config& c, const std::string& path, bool ideal_memory) {
        topology::LayerMemory mem = topology::memory_of(c.cfg);
        mem.ideal = ideal_memory;
        const auto rs = topology::run_layers(c.cfg, mem, topology::load_topology(path));
        return from_json(topology::topology_json(c.cfg, mem, rs));
      },
      py::arg("config"), py::arg("topology"), py::arg("ideal_memory") = false,
      "Runs a SCALE-Sim layer list: {'total': {...}, 'layers': [{...}, ...]} (docs/topology.md).");

  m.def(
      "evaluate",
      [](const Config& c, const std::string& workload, const std::string& precision, bool ideal_memory) {
        EvalOptions o;
        o.precision = precision;
        o.ideal_memory = ideal_memory;
        Evaluation e;
        {
          py::gil_scoped_release release;
          e = evaluate(c.cfg, workload, o);
        }
        return evaluation_dict(e);
      },
      py::arg("config"), py::arg("workload"), py::arg("precision") = "fp16", py::arg("ideal_memory") = false,
      "Latency, energy and traffic of a workload (.onnx, .npub, .npus, topology .csv), as a sweep point.");
}
