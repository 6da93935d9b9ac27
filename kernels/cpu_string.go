package kernels

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// strCol reads a utf8 argument with broadcast.
type strCol struct {
	a *array.String
	s int
}

func newStrCol(a arrow.Array, n int) strCol { return strCol{a.(*array.String), Stride(a, n)} }

func (c strCol) at(i int) string { return c.a.Value(i * c.s) }

// intCol reads an integer argument (any width) with broadcast.
type intCol struct {
	v []int64
	s int
}

func newIntCol(a arrow.Array, n int) intCol { return intCol{int64Arg(a), Stride(a, n)} }

func (c intCol) at(i int) int64 { return c.v[i*c.s] }

var errTooLarge = errors.New("requested length too large")

// maxStringBytes bounds results like PostgreSQL's 1GB field limit.
const maxStringBytes = 1 << 30

// strKernel builds a string result: f writes the result of each valid row
// to out (exactly one row: add, addBytes or appendPart... endRow).
func strKernel(ctx *Context, args []arrow.Array, n, hint int, f func(i int, out *strOut) error) (arrow.Array, error) {
	validity, nulls := Validity(ctx.Alloc, args, n)
	out := newStrOut(ctx.Alloc, n, hint)
	for i := 0; i < n; i++ {
		if !validAt(validity, i) {
			out.add("")
			continue
		}
		if err := f(i, out); err != nil {
			out.release()
			releaseBuf(validity)
			return nil, err
		}
	}
	return out.finish(validity, nulls)
}

// dataHint estimates the result size from the first argument's bytes.
func dataHint(a arrow.Array, n int) int {
	s := a.(*array.String)
	if s.Len() == 0 {
		return 0
	}
	b := int(s.ValueOffset64(s.Len()-1)-s.ValueOffset64(0)) + s.ValueLen(s.Len()-1)
	if s.Len() == 1 {
		return b * n
	}
	return b
}

// int64Kernel builds a bigint result from f over valid rows.
func int64Kernel(ctx *Context, args []arrow.Array, n int, f func(i int) int64) (arrow.Array, error) {
	validity, nulls := Validity(ctx.Alloc, args, n)
	buf, out := AllocFixed[int64](ctx.Alloc, n)
	for i := range out {
		if validAt(validity, i) {
			out[i] = f(i)
		} else {
			out[i] = 0
		}
	}
	return FinishFixed(arrow.PrimitiveTypes.Int64, n, buf, validity, nulls), nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// runeOffset is the byte offset of the k-th character (0-based) of s, or
// len(s) past the end.
func runeOffset(s string, k int64) int {
	if k <= 0 {
		return 0
	}
	if k >= int64(len(s)) {
		return len(s)
	}
	for i := 0; i < len(s); i++ {
		if s[i]&0xC0 != 0x80 {
			if k == 0 {
				return i
			}
			k--
		}
	}
	return len(s)
}

// caseMap writes s upper- or lower-cased.
func caseMap(out *strOut, s string, upper bool) {
	if isASCII(s) {
		t := out.tail(len(s))
		for i := 0; i < len(s); i++ {
			c := s[i]
			if upper && 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			} else if !upper && 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			t[i] = c
		}
		out.commit(len(s))
		return
	}
	t := out.tail(len(s) * 3)[:0]
	for _, r := range s {
		if upper {
			r = unicode.ToUpper(r)
		} else {
			r = unicode.ToLower(r)
		}
		t = utf8.AppendRune(t, r)
	}
	out.commit(len(t))
}

func caseKernel(upper bool) ExecFn {
	return func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
		s := newStrCol(args[0], n)
		return strKernel(ctx, args, n, dataHint(args[0], n), func(i int, out *strOut) error {
			caseMap(out, s.at(i), upper)
			return nil
		})
	}
}

// initcap upper-cases the first letter of each run of letters and digits
// and lower-cases the rest, like PostgreSQL.
func initcapKernel(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
	s := newStrCol(args[0], n)
	return strKernel(ctx, args, n, dataHint(args[0], n), func(i int, out *strOut) error {
		v := s.at(i)
		t := out.tail(len(v) * 3)[:0]
		inWord := false
		for _, r := range v {
			if inWord {
				r = unicode.ToLower(r)
			} else {
				r = unicode.ToUpper(r)
			}
			inWord = unicode.IsLetter(r) || unicode.IsDigit(r)
			t = utf8.AppendRune(t, r)
		}
		out.commit(len(t))
		return nil
	})
}

func concatKernel(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
	a, b := newStrCol(args[0], n), newStrCol(args[1], n)
	return strKernel(ctx, args, n, dataHint(args[0], n)+dataHint(args[1], n), func(i int, out *strOut) error {
		x, y := a.at(i), b.at(i)
		if len(x)+len(y) > maxStringBytes {
			return errTooLarge
		}
		out.appendPart(x)
		out.appendPart(y)
		out.endRow()
		return nil
	})
}

func lengthKernel(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
	s := newStrCol(args[0], n)
	return int64Kernel(ctx, args, n, func(i int) int64 { return int64(utf8.RuneCountInString(s.at(i))) })
}

func octetLengthKernel(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
	s := newStrCol(args[0], n)
	return int64Kernel(ctx, args, n, func(i int) int64 { return int64(len(s.at(i))) })
}

// substringKernel implements substring(s, start[, count]) with PostgreSQL's
// semantics: 1-based character positions, start may be <= 0 (the window
// [start, start+count) is clipped to the string), negative count fails.
func substringKernel(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
	s, st := newStrCol(args[0], n), newIntCol(args[1], n)
	var cnt intCol
	withCount := len(args) == 3
	if withCount {
		cnt = newIntCol(args[2], n)
	}
	return strKernel(ctx, args, n, dataHint(args[0], n), func(i int, out *strOut) error {
		v, start := s.at(i), st.at(i)
		end := int64(1) << 62 // exclusive, 1-based
		if withCount {
			c := cnt.at(i)
			if c < 0 {
				return errors.New("negative substring length not allowed")
			}
			if start < 1<<61 && c < 1<<61 {
				end = start + c
			}
		}
		if start < 1 {
			start = 1
		}
		if end <= start {
			out.add("")
			return nil
		}
		b := runeOffset(v, start-1)
		e := len(v)
		if end-1 < int64(len(v)) {
			e = b + runeOffset(v[b:], end-start)
		}
		out.add(v[b:e])
		return nil
	})
}

// trimKernel implements btrim/ltrim/rtrim; with one argument it trims
// spaces, with two the characters of the second.
func trimKernel(left, right bool) ExecFn {
	return func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
		s := newStrCol(args[0], n)
		set := strCol{}
		if len(args) == 2 {
			set = newStrCol(args[1], n)
		}
		return strKernel(ctx, args, n, dataHint(args[0], n), func(i int, out *strOut) error {
			v, cut := s.at(i), " "
			if set.a != nil {
				cut = set.at(i)
			}
			if left {
				v = strings.TrimLeft(v, cut)
			}
			if right {
				v = strings.TrimRight(v, cut)
			}
			out.add(v)
			return nil
		})
	}
}

func replaceKernel(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
	s, from, to := newStrCol(args[0], n), newStrCol(args[1], n), newStrCol(args[2], n)
	return strKernel(ctx, args, n, dataHint(args[0], n), func(i int, out *strOut) error {
		v, f, t := s.at(i), from.at(i), to.at(i)
		if f == "" {
			out.add(v)
			return nil
		}
		size := 0
		for {
			k := strings.Index(v, f)
			if k < 0 {
				break
			}
			size += k + len(t)
			if size > maxStringBytes {
				return errTooLarge
			}
			out.appendPart(v[:k])
			out.appendPart(t)
			v = v[k+len(f):]
		}
		out.appendPart(v)
		out.endRow()
		return nil
	})
}

// strposKernel returns the 1-based character position of sub in s, 0 when
// absent.
func strposKernel(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
	s, sub := newStrCol(args[0], n), newStrCol(args[1], n)
	return int64Kernel(ctx, args, n, func(i int) int64 {
		v := s.at(i)
		k := strings.Index(v, sub.at(i))
		if k < 0 {
			return 0
		}
		return int64(utf8.RuneCountInString(v[:k])) + 1
	})
}

// leftRight implements left(s, n) and right(s, n); a negative n drops |n|
// characters from the other end.
func leftRight(left bool) ExecFn {
	return func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
		s, k := newStrCol(args[0], n), newIntCol(args[1], n)
		return strKernel(ctx, args, n, dataHint(args[0], n), func(i int, out *strOut) error {
			v, c := s.at(i), k.at(i)
			if c < -(1 << 62) {
				c = -(1 << 62)
			}
			switch {
			case left && c >= 0:
				v = v[:runeOffset(v, c)]
			case left:
				keep := int64(utf8.RuneCountInString(v)) + c
				v = v[:runeOffset(v, keep)]
			case c >= 0:
				skip := int64(utf8.RuneCountInString(v)) - c
				v = v[runeOffset(v, skip):]
			default:
				v = v[runeOffset(v, -c):]
			}
			out.add(v)
			return nil
		})
	}
}

func startsWithKernel(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
	s, p := newStrCol(args[0], n), newStrCol(args[1], n)
	return boolResult(ctx, args, n, func(out []byte) {
		for i := 0; i < n; i++ {
			out[i>>3] |= b2u(strings.HasPrefix(s.at(i), p.at(i))) << (i & 7)
		}
	}), nil
}

// padKernel implements lpad/rpad(s, n[, fill]): the result has exactly n
// characters, truncating s or filling with fill (default a space).
func padKernel(left bool) ExecFn {
	return func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
		s, k := newStrCol(args[0], n), newIntCol(args[1], n)
		fill := strCol{}
		if len(args) == 3 {
			fill = newStrCol(args[2], n)
		}
		return strKernel(ctx, args, n, dataHint(args[0], n), func(i int, out *strOut) error {
			v, want, f := s.at(i), k.at(i), " "
			if fill.a != nil {
				f = fill.at(i)
			}
			if want <= 0 {
				out.add("")
				return nil
			}
			have := int64(utf8.RuneCountInString(v))
			if have >= want || f == "" {
				out.add(v[:runeOffset(v, want)])
				return nil
			}
			need := want - have
			if need*utf8.UTFMax+int64(len(v)) > maxStringBytes {
				return errTooLarge
			}
			if !left {
				out.appendPart(v)
			}
			for need > 0 {
				for j := 0; j < len(f) && need > 0; need-- {
					_, sz := utf8.DecodeRuneInString(f[j:])
					out.appendPart(f[j : j+sz])
					j += sz
				}
			}
			if left {
				out.appendPart(v)
			}
			out.endRow()
			return nil
		})
	}
}

func repeatKernel(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
	s, k := newStrCol(args[0], n), newIntCol(args[1], n)
	return strKernel(ctx, args, n, 0, func(i int, out *strOut) error {
		v, c := s.at(i), k.at(i)
		if c <= 0 || v == "" {
			out.add("")
			return nil
		}
		if c > maxStringBytes/int64(len(v)) {
			return errTooLarge
		}
		t := out.tail(len(v) * int(c))
		for j := 0; j < int(c); j++ {
			copy(t[j*len(v):], v)
		}
		out.commit(len(t))
		return nil
	})
}

func reverseKernel(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
	s := newStrCol(args[0], n)
	return strKernel(ctx, args, n, dataHint(args[0], n), func(i int, out *strOut) error {
		v := s.at(i)
		t := out.tail(len(v))
		if isASCII(v) {
			for j := 0; j < len(v); j++ {
				t[len(v)-1-j] = v[j]
			}
		} else {
			w := len(v)
			for j := 0; j < len(v); {
				_, sz := utf8.DecodeRuneInString(v[j:])
				w -= sz
				copy(t[w:], v[j:j+sz])
				j += sz
			}
		}
		out.commit(len(v))
		return nil
	})
}

// strResolver resolves a string function from its argument kinds: 's' a
// string, 'i' an integer of any width.
func strResolver(ret Type, fn ExecFn, kinds ...string) Resolver {
	return func(in []Type) (Type, ExecFn, bool) {
		for _, k := range kinds {
			if len(k) != len(in) {
				continue
			}
			ok := true
			for i, t := range in {
				switch k[i] {
				case 's':
					ok = ok && t.ID == String
				case 'i':
					ok = ok && t.IsInteger()
				}
			}
			if ok {
				return ret, fn, true
			}
		}
		return Type{}, nil, false
	}
}
