package exec

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"

	"github.com/bellows-db/bellows/planner"
)

// scMaxDictFilters bounds the conjuncts a batch can record as applied.
const scMaxDictFilters = 64

// singleColumnFilters returns, per conjunct, the output column it reads
// when it reads exactly one (else -1).
func singleColumnFilters(conj []*planner.Expr, cols []planner.Column) []int {
	out := make([]int, len(conj))
	for i, c := range conj {
		out[i] = -1
		ids := c.Columns()
		if len(ids) != 1 || i >= scMaxDictFilters {
			continue
		}
		for j, col := range cols {
			if ids[col.ID] {
				out[i] = j
				break
			}
		}
	}
	return out
}

// assembleDict is assemble for batches whose string columns arrive
// dictionary encoded. A conjunct that reads only such a column is
// evaluated once per dictionary value (plus NULL) instead of once per row;
// the rows it rejects are never unpacked, and the other columns are
// gathered for the surviving rows only. It returns the batch (possibly of
// zero rows) and the set of conjuncts it applied, which the caller must
// not evaluate again.
func (s *ScanSource) assembleDict(raw arrow.RecordBatch, pos []int, unscaled []bool, keep []byte, sel []int32) (arrow.RecordBatch, uint64, []byte, []int32, error) {
	n := int(raw.NumRows())
	var applied uint64
	var idx []int32 // scratch for dictionary indices
	for f, col := range s.filterCol {
		if col < 0 {
			continue
		}
		d, ok := raw.Column(pos[col]).(*array.Dictionary)
		if !ok {
			continue
		}
		truth, err := s.dictTruth(d, col, f)
		if err != nil {
			return nil, 0, keep, sel, err
		}
		if applied == 0 {
			nb := int(bitutil.BytesForBits(int64(n)))
			if cap(keep) < nb {
				keep = make([]byte, nb)
			}
			keep = keep[:nb]
			for i := range keep {
				keep[i] = 0xFF
			}
		}
		applied |= 1 << f
		s.DictFiltered.Add(1)
		if idx, err = scDictMask(d, truth, keep, idx); err != nil {
			return nil, 0, keep, sel, err
		}
	}
	if applied == 0 {
		b, err := s.assembleWith(raw, pos, unscaled)
		return b, 0, keep, sel, err
	}
	sel = sel[:0]
	for i := 0; i < n; i++ {
		if keep[i>>3]&(1<<(i&7)) != 0 {
			sel = append(sel, int32(i))
		}
	}
	all := len(sel) == n
	cols := make([]arrow.Array, len(pos))
	fail := func(i int, err error) (arrow.RecordBatch, uint64, []byte, []int32, error) {
		releaseAll(cols[:i])
		return nil, 0, keep, sel, &FileError{RowGroup: -1, Column: s.scan.FileCols[i], Err: err}
	}
	for i, p := range pos {
		t := s.scan.Cols[i].Type
		if d, ok := raw.Column(p).(*array.Dictionary); ok && !all {
			dict, err := scConvert(s.q.Alloc, d.Dictionary(), t)
			if err != nil {
				return fail(i, err)
			}
			all, err := scDictIdx(d, dict.Len(), idx)
			if err != nil {
				dict.Release()
				return fail(i, err)
			}
			idx = all
			picked := make([]int32, len(sel))
			for k, r := range sel {
				picked[k] = all[r]
			}
			cols[i], err = scTake(s.q.Alloc, dict, picked)
			dict.Release()
			if err != nil {
				return fail(i, err)
			}
			continue
		}
		c, err := s.convertCol(raw.Column(p), i, unscaled)
		if err != nil {
			return fail(i, err)
		}
		if !all {
			taken, err := scTake(s.q.Alloc, c, sel)
			c.Release()
			if err != nil {
				return fail(i, err)
			}
			c = taken
		}
		cols[i] = c
	}
	out := array.NewRecordBatch(s.schema, cols, int64(len(sel)))
	releaseAll(cols)
	return out, applied, keep, sel, nil
}

// dictTruth evaluates conjunct f, which reads only output column col, on
// the values of d's dictionary followed by a NULL: truth[k] reports
// whether dictionary value k passes, truth[len] whether NULL does.
func (s *ScanSource) dictTruth(d *array.Dictionary, col, f int) ([]bool, error) {
	mem := s.q.Alloc
	vals, err := scConvert(mem, d.Dictionary(), s.scan.Cols[col].Type)
	if err != nil {
		return nil, &FileError{RowGroup: -1, Column: s.scan.FileCols[col], Err: err}
	}
	m := vals.Len()
	withNull, err := scTake(mem, vals, append(seqInt32(m), -1))
	vals.Release()
	if err != nil {
		return nil, err
	}
	cols := make([]arrow.Array, len(s.scan.Cols))
	for j, c := range s.scan.Cols {
		if j == col {
			cols[j] = withNull
			continue
		}
		cols[j] = array.MakeArrayOfNull(mem, c.Type.Arrow(), m+1)
	}
	b := array.NewRecordBatch(s.schema, cols, int64(m+1))
	releaseAll(cols)
	defer b.Release()
	res, err := s.filters[f].Eval(s.q, b)
	if err != nil {
		return nil, err
	}
	defer res.Release()
	ba, ok := res.(*array.Boolean)
	truth := make([]bool, m+1)
	if !ok {
		return truth, nil // a NULL constant: nothing passes
	}
	for k := range truth {
		j := k
		if ba.Len() == 1 {
			j = 0
		}
		truth[k] = ba.IsValid(j) && ba.Value(j)
	}
	return truth, nil
}

func seqInt32(n int) []int32 {
	s := make([]int32, n, n+1)
	for i := range s {
		s[i] = int32(i)
	}
	return s
}

// scDictMask clears keep's bit for every row of d whose value (or NULL)
// fails truth; idx is scratch space, returned for reuse.
func scDictMask(d *array.Dictionary, truth []bool, keep []byte, idx []int32) ([]int32, error) {
	idx, err := scDictIdx(d, len(truth)-1, idx)
	if err != nil {
		return idx, err
	}
	null := int32(len(truth) - 1)
	for i, k := range idx {
		if k < 0 {
			k = null
		}
		if !truth[k] {
			keep[i>>3] &^= 1 << (i & 7)
		}
	}
	return idx, nil
}
