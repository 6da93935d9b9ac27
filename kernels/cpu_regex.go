package kernels

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
)

// regexCache keeps compiled patterns: regex arguments are almost always
// constants, so each pattern compiles once per process.
var regexCache sync.Map // string -> *regexp.Regexp

func compileRegex(pat string, icase bool) (*regexp.Regexp, error) {
	key := pat
	if icase {
		key = "(?i)" + pat
	}
	if re, ok := regexCache.Load(key); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(key)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	regexCache.Store(key, re)
	return re, nil
}

// regexMatch implements s ~ p (and ~*, !~, !~*) with Go's RE2 syntax, which
// covers PostgreSQL's common ARE forms.
func regexMatch(icase, negate bool) ExecFn {
	return func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
		s, p := newStrCol(args[0], n), newStrCol(args[1], n)
		var ferr error
		res := boolResult(ctx, args, n, func(out []byte) {
			for i := 0; i < n; i++ {
				if IsNullAt(args[0], i) || IsNullAt(args[1], i) {
					continue
				}
				re, err := compileRegex(p.at(i), icase)
				if err != nil {
					ferr = err
					return
				}
				out[i>>3] |= b2u(re.MatchString(s.at(i)) != negate) << (i & 7)
			}
		})
		if ferr != nil {
			res.Release()
			return nil, ferr
		}
		return res, nil
	}
}

// splitPartKernel implements split_part(s, delimiter, n): the n-th field
// (1-based; negative counts from the end), ” when out of range.
func splitPartKernel(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
	s, d, k := newStrCol(args[0], n), newStrCol(args[1], n), newIntCol(args[2], n)
	return strKernel(ctx, args, n, dataHint(args[0], n), func(i int, out *strOut) error {
		idx := k.at(i)
		if idx == 0 {
			return fmt.Errorf("field position must not be zero")
		}
		var parts []string
		if d.at(i) == "" {
			parts = []string{s.at(i)}
		} else {
			parts = strings.Split(s.at(i), d.at(i))
		}
		if idx < 0 {
			idx += int64(len(parts)) + 1
		}
		if idx < 1 || idx > int64(len(parts)) {
			out.add("")
			return nil
		}
		out.add(parts[idx-1])
		return nil
	})
}

func init() {
	reg := func(name string, res Resolver) { Default.Register(CPUBackend, name, res) }
	reg("regex_match", Exact(TBool, regexMatch(false, false), String, String))
	reg("regex_imatch", Exact(TBool, regexMatch(true, false), String, String))
	reg("not_regex_match", Exact(TBool, regexMatch(false, true), String, String))
	reg("not_regex_imatch", Exact(TBool, regexMatch(true, true), String, String))
	reg("split_part", strResolver(TString, splitPartKernel, "ssi"))
}
