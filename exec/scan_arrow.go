package exec

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/bellows-db/bellows/kernels"
)

// arrowMagic starts (and ends) an Arrow IPC file; streams lack it.
var arrowMagic = []byte("ARROW1")

// arrowFile is one Arrow IPC file of a scan. File-format files stay open
// (their reader is safe for concurrent use) and split per record batch;
// streams are one split each.
type arrowFile struct {
	path   string
	size   int64
	f      *os.File
	fr     *ipc.FileReader // nil for a stream
	schema *arrow.Schema
	pos    []int // output column -> field index
}

// openArrow opens path and reads its schema (and footer, for the file
// format).
func openArrow(path string, mem memory.Allocator) (af *arrowFile, err error) {
	defer func() {
		if r := recover(); r != nil {
			if af != nil && af.f != nil {
				af.f.Close()
			}
			af, err = nil, scPanicErr(path, -1, r)
		}
	}()
	f, err := os.Open(path)
	if err != nil {
		return nil, scFileErr(path, -1, err)
	}
	af = &arrowFile{path: path, f: f}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, scFileErr(path, -1, err)
	}
	af.size = st.Size()
	head := make([]byte, len(arrowMagic))
	n, _ := f.ReadAt(head, 0)
	isFile := n == len(head) && bytes.Equal(head, arrowMagic)
	if err := checkArrowMetadata(f, af.size, isFile); err != nil {
		f.Close()
		return nil, scFileErr(path, -1, err)
	}
	if isFile {
		fr, err := ipc.NewFileReader(f, af.ipcOptions(mem)...)
		if err != nil {
			f.Close()
			return nil, scFileErr(path, -1, err)
		}
		af.fr, af.schema = fr, fr.Schema()
		return af, nil
	}
	r, err := ipc.NewReader(io.NewSectionReader(f, 0, af.size), af.ipcOptions(mem)...)
	if err != nil {
		f.Close()
		return nil, scFileErr(path, -1, err)
	}
	af.schema = r.Schema()
	r.Release()
	return af, nil
}

func (af *arrowFile) ipcOptions(mem memory.Allocator) []ipc.Option {
	limit := max(af.size, 1)
	return []ipc.Option{ipc.WithAllocator(mem), ipc.WithBodySizeLimit(limit), ipc.WithMetadataSizeLimit(min(limit, 64<<20))}
}

func (af *arrowFile) close() {
	if af.fr != nil {
		af.fr.Close()
		af.fr = nil
	}
	if af.f != nil {
		af.f.Close()
		af.f = nil
	}
}

func (af *arrowFile) fieldNames() []string {
	names := make([]string, af.schema.NumFields())
	for i := range names {
		names[i] = af.schema.Field(i).Name
	}
	return names
}

type arrowScan struct {
	src   *ScanSource
	files []*arrowFile
}

func newArrowScan(src *ScanSource) (*arrowScan, error) {
	as := &arrowScan{src: src}
	for i, path := range src.scan.Paths {
		af, err := openArrow(path, src.q.Alloc)
		if err != nil {
			as.close()
			return nil, err
		}
		as.files = append(as.files, af)
		names := af.fieldNames()
		for _, name := range src.scan.FileCols {
			j := scMatchColumn(names, name)
			if j < 0 {
				as.close()
				return nil, scErrNoColumn(path, name)
			}
			af.pos = append(af.pos, j)
			if _, err := kernels.FromArrow(af.schema.Field(j).Type); err != nil {
				as.close()
				return nil, &FileError{Path: path, RowGroup: -1, Column: name, Err: err}
			}
		}
		if af.fr == nil {
			src.splits = append(src.splits, scanSplit{file: i, unit: -1})
			continue
		}
		for b := 0; b < af.fr.NumRecords(); b++ {
			src.splits = append(src.splits, scanSplit{file: i, unit: b})
		}
	}
	return as, nil
}

// assemble validates the needed columns of an IPC batch, then converts them.
func (as *arrowScan) assemble(raw arrow.RecordBatch, pos []int) (arrow.RecordBatch, error) {
	if raw.NumRows() < 0 || raw.NumRows() > maxIPCRows {
		return nil, fmt.Errorf("%w: batch of %d rows", errBadArrowMetadata, raw.NumRows())
	}
	for _, p := range pos {
		c := raw.Column(p)
		if int64(c.Len()) != raw.NumRows() {
			return nil, fmt.Errorf("%w: column of %d rows in a batch of %d", errBadArrowMetadata, c.Len(), raw.NumRows())
		}
		if err := checkArrowArray(c); err != nil {
			return nil, err
		}
	}
	return as.src.assemble(raw, pos)
}

func (as *arrowScan) where(sp scanSplit) (string, int) {
	if sp.file < 0 || sp.file >= len(as.files) {
		return "?", -1
	}
	return as.files[sp.file].path, -1
}

func (as *arrowScan) close() {
	for _, af := range as.files {
		af.close()
	}
}

func (as *arrowScan) local() scanFormatLocal { return arrowLocal{as} }

// arrowLocal opens splits; the files themselves belong to the arrowScan.
type arrowLocal struct{ as *arrowScan }

func (l arrowLocal) close() {}

func (l arrowLocal) open(sp scanSplit) (scanSplitReader, error) {
	as := l.as
	af := as.files[sp.file]
	if af.fr != nil {
		return &arrowBatchSplit{as: as, af: af, i: sp.unit}, nil
	}
	r, err := ipc.NewReader(io.NewSectionReader(af.f, 0, af.size), af.ipcOptions(as.src.q.Alloc)...)
	if err != nil {
		return nil, err
	}
	return &arrowStreamSplit{as: as, af: af, r: r}, nil
}

// arrowBatchSplit reads one record batch of an IPC file.
type arrowBatchSplit struct {
	as   *arrowScan
	af   *arrowFile
	i    int
	done bool
}

func (s *arrowBatchSplit) next() (arrow.RecordBatch, bool, error) {
	if s.done {
		return nil, true, io.EOF
	}
	s.done = true
	raw, err := s.af.fr.RecordBatchAt(s.i)
	if err != nil {
		return nil, true, err
	}
	defer raw.Release()
	b, err := s.as.assemble(raw, s.af.pos)
	return b, true, err
}

func (s *arrowBatchSplit) close() {}

// arrowStreamSplit reads a whole IPC stream.
type arrowStreamSplit struct {
	as *arrowScan
	af *arrowFile
	r  *ipc.Reader
}

func (s *arrowStreamSplit) next() (arrow.RecordBatch, bool, error) {
	if s.r == nil {
		return nil, true, io.EOF
	}
	if !s.r.Next() {
		err := s.r.Err()
		if err == nil {
			err = io.EOF
		}
		return nil, true, err
	}
	b, err := s.as.assemble(s.r.RecordBatch(), s.af.pos)
	return b, false, err
}

func (s *arrowStreamSplit) close() {
	if s.r != nil {
		s.r.Release()
		s.r = nil
	}
}

// arrowRowCount counts the rows of an Arrow IPC file when it is small enough
// to read cheaply, else -1.
func arrowRowCount(path string) (n float64, err error) {
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, scPanicErr(path, -1, r)
		}
	}()
	mem := memory.NewGoAllocator()
	af, err := openArrow(path, mem)
	if err != nil {
		return 0, err
	}
	defer af.close()
	if af.size > arrowCountLimit {
		return -1, nil
	}
	rows := int64(0)
	if af.fr != nil {
		for i := 0; i < af.fr.NumRecords(); i++ {
			b, err := af.fr.RecordBatchAt(i)
			if err != nil {
				return 0, scFileErr(path, -1, err)
			}
			rows += b.NumRows()
			b.Release()
		}
		return float64(rows), nil
	}
	r, err := ipc.NewReader(io.NewSectionReader(af.f, 0, af.size), af.ipcOptions(mem)...)
	if err != nil {
		return 0, scFileErr(path, -1, err)
	}
	defer r.Release()
	for r.Next() {
		rows += r.RecordBatch().NumRows()
	}
	if err := r.Err(); err != nil {
		return 0, scFileErr(path, -1, err)
	}
	return float64(rows), nil
}

// arrowCountLimit is the largest Arrow file whose rows ReadStats counts.
const arrowCountLimit = 64 << 20
