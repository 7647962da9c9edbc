// Constant tensors of libonnx's TensorProto as doubles and back (onnx_values.h).
#include "compiler/onnx_values.h"

#include <cmath>
#include <cstring>

namespace npusim::compiler {

namespace {

/// IEEE binary16 bits as a float (exact).
float half_to_float(uint16_t h) {
  const int sign = h >> 15, exp = (h >> 10) & 0x1F, frac = h & 0x3FF;
  float v = exp == 0    ? std::ldexp(static_cast<float>(frac), -24)
            : exp == 31 ? (frac ? NAN : INFINITY)
                        : std::ldexp(static_cast<float>(frac | 0x400), exp - 25);
  return sign ? -v : v;
}

/// bfloat16 bits as a float (exact: the upper half of a float's bits).
float bf16_to_float(uint16_t h) {
  const uint32_t bits = uint32_t{h} << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// Bytes per element in raw_data (0: not a type read here).
size_t raw_size(int32_t t) {
  switch (t) {
    case onnx::TensorProto_DataType_DOUBLE:
    case onnx::TensorProto_DataType_INT64: return 8;
    case onnx::TensorProto_DataType_FLOAT:
    case onnx::TensorProto_DataType_INT32: return 4;
    case onnx::TensorProto_DataType_FLOAT16:
    case onnx::TensorProto_DataType_BFLOAT16: return 2;
    case onnx::TensorProto_DataType_INT8:
    case onnx::TensorProto_DataType_UINT8:
    case onnx::TensorProto_DataType_BOOL: return 1;
    default: return 0;
  }
}

}  // namespace

DType from_onnx(int32_t t) {
  switch (t) {
    case onnx::TensorProto_DataType_FLOAT: return DType::F32;
    case onnx::TensorProto_DataType_FLOAT16: return DType::F16;
    case onnx::TensorProto_DataType_BFLOAT16: return DType::BF16;
    case onnx::TensorProto_DataType_INT8: return DType::I8;
    case onnx::TensorProto_DataType_UINT8: return DType::U8;
    case onnx::TensorProto_DataType_INT32: return DType::I32;
    case onnx::TensorProto_DataType_INT64: return DType::I64;
    case onnx::TensorProto_DataType_BOOL: return DType::Bool;
    default: return DType::Other;
  }
}

bool readable_type(int32_t t) {
  return raw_size(t) != 0;
}

int64_t element_count(const onnx::TensorProto& t, const std::string& what) {
  int64_t n = 1;
  for (int64_t d : t.dims())
    if (d < 0 || __builtin_mul_overflow(n, d, &n) || n > (int64_t{1} << 40))
      throw CompileError(what + ": dims of " + std::to_string(t.dims_size()) +
                         " axes give a negative or impossible element count");
  return n;
}

std::vector<double> values_of(const onnx::TensorProto& t, const std::string& what) {
  const int64_t n = element_count(t, what);
  const int32_t type = t.data_type();
  const size_t es = raw_size(type);
  if (!es)
    throw CompileError(what + ": constants of type " +
                       onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(type)) +
                       " are not supported");
  if (t.data_location() == onnx::TensorProto_DataLocation_EXTERNAL)
    throw CompileError(what + ": external tensor data is not supported");
  std::vector<double> v;
  if (t.has_raw_data()) {
    const std::string& raw = t.raw_data();
    if (raw.size() != static_cast<size_t>(n) * es)
      throw CompileError(what + ": raw_data holds " + std::to_string(raw.size()) + " bytes, expected " +
                         std::to_string(static_cast<size_t>(n) * es));
    v.reserve(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const char* p = raw.data() + i * static_cast<int64_t>(es);
      switch (type) {
        case onnx::TensorProto_DataType_FLOAT: {
          float f;
          std::memcpy(&f, p, 4);
          v.push_back(f);
          break;
        }
        case onnx::TensorProto_DataType_DOUBLE: {
          double d;
          std::memcpy(&d, p, 8);
          v.push_back(d);
          break;
        }
        case onnx::TensorProto_DataType_FLOAT16:
        case onnx::TensorProto_DataType_BFLOAT16: {
          uint16_t h;
          std::memcpy(&h, p, 2);
          v.push_back(type == onnx::TensorProto_DataType_FLOAT16 ? half_to_float(h) : bf16_to_float(h));
          break;
        }
        case onnx::TensorProto_DataType_INT32: {
          int32_t x;
          std::memcpy(&x, p, 4);
          v.push_back(x);
          break;
        }
        case onnx::TensorProto_DataType_INT64: {
          int64_t x;
          std::memcpy(&x, p, 8);
          v.push_back(static_cast<double>(x));
          break;
        }
        case onnx::TensorProto_DataType_INT8: v.push_back(static_cast<int8_t>(*p)); break;
        case onnx::TensorProto_DataType_BOOL: v.push_back(*p ? 1 : 0); break;
        default: v.push_back(static_cast<uint8_t>(*p)); break;  // UINT8
      }
    }
    return v;
  }
  switch (type) {
    case onnx::TensorProto_DataType_FLOAT:
      for (float f : t.float_data()) v.push_back(f);
      break;
    case onnx::TensorProto_DataType_DOUBLE:
      for (double d : t.double_data()) v.push_back(d);
      break;
    case onnx::TensorProto_DataType_INT64:
      for (int64_t x : t.int64_data()) v.push_back(static_cast<double>(x));
      break;
    case onnx::TensorProto_DataType_FLOAT16:  // the bits in int32_data, one per element
      for (int32_t x : t.int32_data()) v.push_back(half_to_float(static_cast<uint16_t>(x)));
      break;
    case onnx::TensorProto_DataType_BFLOAT16:
      for (int32_t x : t.int32_data()) v.push_back(bf16_to_float(static_cast<uint16_t>(x)));
      break;
    default:  // INT32, INT8, UINT8, BOOL: int32_data
      for (int32_t x : t.int32_data())
        v.push_back(type == onnx::TensorProto_DataType_INT8    ? static_cast<int8_t>(x)
                    : type == onnx::TensorProto_DataType_UINT8 ? static_cast<uint8_t>(x)
                    : type == onnx::TensorProto_DataType_BOOL  ? (x != 0)
                                                               : x);
  }
  if (static_cast<int64_t>(v.size()) != n)
    throw CompileError(what + ": holds " + std::to_string(v.size()) + " values, its shape needs " + std::to_string(n));
  return v;
}

onnx::TensorProto make_tensor(const std::string& name, int32_t type, const std::vector<int64_t>& dims,
                              const std::vector<double>& values) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(type);
  for (int64_t d : dims) t.add_dims(d);
  std::string raw(values.size() * raw_size(type), '\0');
  char* p = raw.data();
  // An integer type keeps the value's low bits, as Cast does (values here are integral already).
  auto integer = [](double x) {
    return std::isfinite(x) ? static_cast<int64_t>(std::fmod(std::trunc(x), 18446744073709551616.0)) : 0;
  };
  for (double x : values) {
    switch (type) {
      case onnx::TensorProto_DataType_FLOAT: {
        const float f = static_cast<float>(x);
        std::memcpy(p, &f, 4), p += 4;
        break;
      }
      case onnx::TensorProto_DataType_DOUBLE: std::memcpy(p, &x, 8), p += 8; break;
      case onnx::TensorProto_DataType_INT64: {
        const int64_t i = integer(x);
        std::memcpy(p, &i, 8), p += 8;
        break;
      }
      case onnx::TensorProto_DataType_INT32: {
        const auto i = static_cast<int32_t>(static_cast<uint32_t>(integer(x)));
        std::memcpy(p, &i, 4), p += 4;
        break;
      }
      case onnx::TensorProto_DataType_INT8:
      case onnx::TensorProto_DataType_UINT8: *p++ = static_cast<char>(static_cast<uint8_t>(integer(x))); break;
      case onnx::TensorProto_DataType_BOOL: *p++ = x != 0 ? 1 : 0; break;
      default: throw CompileError("tensor '" + name + "': cannot hold a folded constant of this type");
    }
  }
  t.set_raw_data(raw);
  return t;
}

}  // namespace npusim::compiler
