package tpch

import (
	"sync"
	"weak"
)

// The comment columns are cut from a pool of pseudo-text built once from the
// grammar of dists.dss (spec clause 4.2.2.10), with dbgen's stream and size,
// so that offsets into it reproduce dbgen's comments.

const (
	textPoolSize   = 300 * 1024 * 1024
	textPoolSeed   = 933588178
	maxSentenceLen = 256
)

// textPool is the pseudo-text pool.
type textPool struct {
	text []byte
}

var (
	poolMu    sync.Mutex
	poolCache weak.Pointer[textPool]
)

// getTextPool returns the shared pool, building it if no live copy exists.
// It is held weakly so that a long-lived process does not keep 300 MiB after
// generation ends.
func getTextPool() *textPool {
	poolMu.Lock()
	defer poolMu.Unlock()
	if p := poolCache.Value(); p != nil {
		return p
	}
	p := &textPool{text: buildTextPool(make([]byte, 0, textPoolSize+maxSentenceLen), textPoolSize)}
	poolCache = weak.Make(p)
	return p
}

// buildTextPool fills buf (capacity >= size+maxSentenceLen) with size bytes
// of text.
func buildTextPool(buf []byte, size int) []byte {
	r := newRowRand(textPoolSeed, 1<<31-1)
	for len(buf) < size {
		buf = appendSentence(buf, &r)
	}
	return buf[:size:size]
}

func appendWord(buf []byte, d *dist, r *rowRand) []byte {
	return append(buf, d.values[d.pick(r)]...)
}

func appendSentence(buf []byte, r *rowRand) []byte {
	syntax := dGrammar.values[dGrammar.pick(r)]
	for i := 0; i < len(syntax); i += 2 {
		switch syntax[i] {
		case 'V':
			buf = appendVerbPhrase(buf, r)
		case 'N':
			buf = appendNounPhrase(buf, r)
		case 'P':
			buf = appendWord(buf, dPrepositions, r)
			buf = append(buf, " the "...)
			buf = appendNounPhrase(buf, r)
		case 'T':
			buf = buf[:len(buf)-1]
			buf = appendWord(buf, dTerminators, r)
		}
		if buf[len(buf)-1] != ' ' {
			buf = append(buf, ' ')
		}
	}
	return buf
}

func appendVerbPhrase(buf []byte, r *rowRand) []byte {
	syntax := dVerbPhrases.values[dVerbPhrases.pick(r)]
	for i := 0; i < len(syntax); i += 2 {
		switch syntax[i] {
		case 'D':
			buf = appendWord(buf, dAdverbs, r)
		case 'V':
			buf = appendWord(buf, dVerbs, r)
		case 'X':
			buf = appendWord(buf, dAuxiliaries, r)
		}
		buf = append(buf, ' ')
	}
	return buf
}

func appendNounPhrase(buf []byte, r *rowRand) []byte {
	syntax := dNounPhrases.values[dNounPhrases.pick(r)]
	for _, c := range syntax {
		switch c {
		case 'A':
			buf = appendWord(buf, dArticles, r)
		case 'J':
			buf = appendWord(buf, dAdjectives, r)
		case 'D':
			buf = appendWord(buf, dAdverbs, r)
		case 'N':
			buf = appendWord(buf, dNouns, r)
		case ',':
			buf = append(buf[:len(buf)-1], ", "...)
			continue
		default:
			continue
		}
		buf = append(buf, ' ')
	}
	return buf
}

// randomText draws comments from the pool: an offset and a length uniform in
// [0.4, 1.6] times the column's average length (dbgen's TEXT()). Each value
// takes 2 draws; perRow is the number of values per row.
type randomText struct {
	r              rowRand
	pool           []byte
	minLen, maxLen int32
}

func newRandomText(seed int64, pool *textPool, avg float64, perRow int32) randomText {
	return randomText{
		r:      newRowRand(seed, 2*perRow),
		pool:   pool.text,
		minLen: int32(avg * 0.4),
		maxLen: int32(avg * 1.6),
	}
}

// next returns a slice of the pool; callers copy it.
func (t *randomText) next() []byte {
	off := t.r.intn(0, int32(len(t.pool))-t.maxLen)
	n := t.r.intn(t.minLen, t.maxLen)
	return t.pool[off : off+n]
}

func (t *randomText) rowFinished()        { t.r.rowFinished() }
func (t *randomText) advanceRows(n int64) { t.r.advanceRows(n) }
