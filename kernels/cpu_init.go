package kernels

import "math"

// CPUBackend is the backend name of the built-in kernels.
const CPUBackend = "cpu"

func init() { RegisterCPU(Default) }

// RegisterCPU registers the CPU kernels into r (done for Default at init). Comparison and
// arithmetic take operands already coerced to one type family; decimals may differ in p/s.
func RegisterCPU(r *Registry) {
	reg := func(name string, res Resolver) { r.Register(CPUBackend, name, res) }

	// comparisons
	for name, op := range cmpOps {
		reg(name, compareResolver(op))
	}

	// arithmetic
	for name, op := range arithOps {
		reg(name, arithResolver(op))
	}
	reg("neg", unaryNumResolver(false))
	reg("abs", unaryNumResolver(true))

	// strings
	reg("concat", Exact(TString, concatKernel, String, String))
	reg("upper", Exact(TString, caseKernel(true), String))
	reg("lower", Exact(TString, caseKernel(false), String))
	reg("initcap", Exact(TString, initcapKernel, String))
	for _, name := range []string{"length", "char_length", "character_length"} {
		reg(name, Exact(TInt64, lengthKernel, String))
	}
	reg("octet_length", Exact(TInt64, octetLengthKernel, String))
	for _, name := range []string{"substring", "substr"} {
		reg(name, strResolver(TString, substringKernel, "si", "sii"))
	}
	reg("btrim", strResolver(TString, trimKernel(true, true), "s", "ss"))
	reg("ltrim", strResolver(TString, trimKernel(true, false), "s", "ss"))
	reg("rtrim", strResolver(TString, trimKernel(false, true), "s", "ss"))
	reg("replace", Exact(TString, replaceKernel, String, String, String))
	reg("strpos", Exact(TInt64, strposKernel, String, String))
	reg("position", Exact(TInt64, strposKernel, String, String))
	reg("left", strResolver(TString, leftRight(true), "si"))
	reg("right", strResolver(TString, leftRight(false), "si"))
	reg("starts_with", Exact(TBool, startsWithKernel, String, String))
	reg("lpad", strResolver(TString, padKernel(true), "si", "sis"))
	reg("rpad", strResolver(TString, padKernel(false), "si", "sis"))
	reg("repeat", strResolver(TString, repeatKernel, "si"))
	reg("reverse", Exact(TString, reverseKernel, String))
	reg("like", likeResolver(false, false))
	reg("not_like", likeResolver(false, true))
	reg("ilike", likeResolver(true, false))
	reg("not_ilike", likeResolver(true, true))

	// date/time
	reg("extract", dtResolver(TInt64, func(arg TypeID) ExecFn { return extractKernel(arg, false) }))
	reg("date_part", dtResolver(TFloat64, func(arg TypeID) ExecFn { return extractKernel(arg, true) }))
	reg("date_trunc", dtResolver(TTimestamp, truncKernel))
	reg("make_date", makeDateResolver)

	// math
	reg("round", roundResolver(rmRound))
	reg("trunc", roundResolver(rmTrunc))
	reg("floor", roundResolver(rmFloor))
	reg("ceil", roundResolver(rmCeil))
	reg("ceiling", roundResolver(rmCeil))
	reg("sqrt", floatFn(fSqrt))
	reg("ln", floatFn(logFn(math.Log)))
	reg("log10", floatFn(logFn(math.Log10)))
	reg("log", floatFn(logFn(math.Log10)))
	reg("exp", floatFn(fExp))
	reg("power", powResolver)
	reg("pow", powResolver)
	reg("sign", signResolver)
	reg("greatest", extremeResolver(true))
	reg("least", extremeResolver(false))
}
