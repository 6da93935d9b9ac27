package kernels

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// likeKind classifies a compiled LIKE pattern by the cheapest way to match.
type likeKind uint8

const (
	likeExact    likeKind = iota // no wildcards
	likePrefix                   // lit%
	likeSuffix                   // %lit
	likeContains                 // %lit%
	likeChain                    // lit%lit%...%lit without _
	likeGeneral                  // anything with _
)

type likeTokKind uint8

const (
	tokLit likeTokKind = iota
	tokOne             // _
	tokAny             // %
)

type likeTok struct {
	kind likeTokKind
	lit  string
}

// likeMatcher is a compiled LIKE pattern.
type likeMatcher struct {
	kind  likeKind
	lit   string   // exact, prefix, suffix, contains
	parts []string // chain: literals between the %s (first and last may be "")
	toks  []likeTok
}

var errLikeEscape = errors.New("LIKE pattern must not end with escape character")

// compileLike parses a pattern: % matches any sequence, _ one character,
// backslash escapes the next character.
func compileLike(p string) (*likeMatcher, error) {
	var toks []likeTok
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			toks = append(toks, likeTok{kind: tokLit, lit: lit.String()})
			lit.Reset()
		}
	}
	hasOne := false
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '\\':
			if i+1 == len(p) {
				return nil, errLikeEscape
			}
			i++
			lit.WriteByte(p[i])
		case '%':
			flush()
			if len(toks) == 0 || toks[len(toks)-1].kind != tokAny {
				toks = append(toks, likeTok{kind: tokAny})
			}
		case '_':
			flush()
			toks = append(toks, likeTok{kind: tokOne})
			hasOne = true
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	m := &likeMatcher{toks: toks}
	if hasOne {
		m.kind = likeGeneral
		return m, nil
	}
	// literals separated by %
	parts := []string{""}
	for _, t := range toks {
		if t.kind == tokAny {
			parts = append(parts, "")
		} else {
			parts[len(parts)-1] = t.lit
		}
	}
	switch {
	case len(parts) == 1:
		m.kind, m.lit = likeExact, parts[0]
	case len(parts) == 2 && parts[1] == "":
		m.kind, m.lit = likePrefix, parts[0]
	case len(parts) == 2 && parts[0] == "":
		m.kind, m.lit = likeSuffix, parts[1]
	case len(parts) == 3 && parts[0] == "" && parts[2] == "":
		m.kind, m.lit = likeContains, parts[1]
	default:
		m.kind, m.parts = likeChain, parts
	}
	return m, nil
}

func (m *likeMatcher) match(s string) bool {
	switch m.kind {
	case likeExact:
		return s == m.lit
	case likePrefix:
		return strings.HasPrefix(s, m.lit)
	case likeSuffix:
		return strings.HasSuffix(s, m.lit)
	case likeContains:
		return strings.Contains(s, m.lit)
	case likeChain:
		first, last := m.parts[0], m.parts[len(m.parts)-1]
		if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
			return false
		}
		s = s[len(first) : len(s)-len(last)]
		for _, p := range m.parts[1 : len(m.parts)-1] {
			k := strings.Index(s, p)
			if k < 0 {
				return false
			}
			s = s[k+len(p):]
		}
		return true
	}
	return matchTokens(s, m.toks)
}

// matchTokens is the general matcher: greedy with backtracking to the last
// %, O(len(s) * len(pattern)) worst case.
func matchTokens(s string, toks []likeTok) bool {
	si, ti := 0, 0
	starT, starS := -1, 0
	for {
		if ti < len(toks) {
			t := toks[ti]
			switch t.kind {
			case tokAny:
				starT, starS = ti, si
				ti++
				continue
			case tokOne:
				if si < len(s) {
					_, sz := utf8.DecodeRuneInString(s[si:])
					si += sz
					ti++
					continue
				}
			case tokLit:
				if strings.HasPrefix(s[si:], t.lit) {
					si += len(t.lit)
					ti++
					continue
				}
			}
		} else if si == len(s) {
			return true
		}
		if starT < 0 || starS >= len(s) {
			return false
		}
		_, sz := utf8.DecodeRuneInString(s[starS:])
		starS += sz
		si, ti = starS, starT+1
	}
}

// foldRune maps r to the smallest rune of its simple case-folding orbit, so
// runes that fold together compare equal.
func foldRune(r rune) rune {
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < m {
			m = f
		}
	}
	return m
}

// upperASCII maps ASCII lower-case letters to upper case (the smallest rune
// of their folding orbit) and every other byte to itself.
var upperASCII = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if 'a' <= i && i <= 'z' {
			t[i] = byte(i - ('a' - 'A'))
		}
	}
	return t
}()

// foldCase returns s case-folded for ILIKE, reusing dst's storage.
func foldCase(dst []byte, s string) []byte {
	if cap(dst) < len(s) {
		dst = make([]byte, 0, 2*len(s))
	}
	dst = dst[:len(s)]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			dst = dst[:i]
			for _, r := range s[i:] {
				if r < utf8.RuneSelf {
					dst = append(dst, upperASCII[r])
				} else {
					dst = utf8.AppendRune(dst, foldRune(r))
				}
			}
			return dst
		}
		dst[i] = upperASCII[c]
	}
	return dst
}

// likeKernel implements like/not_like/ilike/not_ilike(value, pattern). A
// constant pattern is compiled once per call; per-row patterns reuse the
// previous row's compilation when equal.
func likeKernel(fold, negate bool) ExecFn {
	return func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
		vals, pats := newStrCol(args[0], n), args[1].(*array.String)
		validity, nulls := Validity(ctx.Alloc, args, n)
		bits := AllocBits(ctx.Alloc, n)
		out := bits.Bytes()
		fail := func(err error) (arrow.Array, error) {
			bits.Release()
			releaseBuf(validity)
			return nil, err
		}
		var scratch []byte
		compile := func(p string) (*likeMatcher, error) {
			if fold {
				scratch = foldCase(scratch[:0], p)
				p = string(scratch)
			}
			return compileLike(p)
		}
		test := func(m *likeMatcher, v string) bool {
			if fold {
				scratch = foldCase(scratch[:0], v)
				if len(scratch) == 0 {
					v = ""
				} else {
					v = unsafe.String(&scratch[0], len(scratch))
				}
			}
			return m.match(v) != negate
		}
		if pats.Len() == 1 {
			if !pats.IsNull(0) {
				m, err := compile(pats.Value(0))
				if err != nil {
					return fail(err)
				}
				if !fold && !negate {
					switch m.kind {
					case likePrefix:
						for i := 0; i < n; i++ {
							out[i>>3] |= b2u(strings.HasPrefix(vals.at(i), m.lit)) << (i & 7)
						}
						return NewBoolFromBits(n, bits, validity, nulls), nil
					case likeContains:
						for i := 0; i < n; i++ {
							out[i>>3] |= b2u(strings.Contains(vals.at(i), m.lit)) << (i & 7)
						}
						return NewBoolFromBits(n, bits, validity, nulls), nil
					}
				}
				for i := 0; i < n; i++ {
					out[i>>3] |= b2u(test(m, vals.at(i))) << (i & 7)
				}
			}
			return NewBoolFromBits(n, bits, validity, nulls), nil
		}
		var last string
		var lm *likeMatcher
		for i := 0; i < n; i++ {
			if !validAt(validity, i) {
				continue
			}
			p := pats.Value(i)
			if lm == nil || p != last {
				m, err := compile(p)
				if err != nil {
					return fail(err)
				}
				lm, last = m, p
			}
			out[i>>3] |= b2u(test(lm, vals.at(i))) << (i & 7)
		}
		return NewBoolFromBits(n, bits, validity, nulls), nil
	}
}

// likeResolver resolves a LIKE-family function over (text, text).
func likeResolver(fold, negate bool) Resolver {
	return Exact(TBool, likeKernel(fold, negate), String, String)
}
