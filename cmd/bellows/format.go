package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/bellows-db/bellows/kernels"
)

// cell renders one value as text; ok is false for NULL.
func cell(arr arrow.Array, i int) (string, bool) {
	if arr.IsNull(i) {
		return "", false
	}
	t, err := kernels.FromArrow(arr.DataType())
	if err != nil {
		return fmt.Sprint(arr.GetOneForMarshal(i)), true
	}
	return kernels.ValueAt(arr, t, i).Format(t), true
}

// printer writes a result in one output format.
type printer interface {
	header(schema *arrow.Schema)
	batch(b arrow.RecordBatch)
	end() error
}

func newPrinter(format string, w io.Writer) (printer, error) {
	switch format {
	case "csv":
		return &csvPrinter{w: csv.NewWriter(w)}, nil
	case "json":
		return &jsonPrinter{w: w}, nil
	case "table", "":
		return &tablePrinter{w: w}, nil
	}
	return nil, fmt.Errorf("unknown format %q (table, csv, json)", format)
}

type csvPrinter struct {
	w   *csv.Writer
	row []string
}

func (p *csvPrinter) header(s *arrow.Schema) {
	p.row = make([]string, s.NumFields())
	for i, f := range s.Fields() {
		p.row[i] = f.Name
	}
	p.w.Write(p.row)
}

func (p *csvPrinter) batch(b arrow.RecordBatch) {
	for r := 0; r < int(b.NumRows()); r++ {
		for c := 0; c < int(b.NumCols()); c++ {
			p.row[c], _ = cell(b.Column(c), r)
		}
		p.w.Write(p.row)
	}
}

func (p *csvPrinter) end() error { p.w.Flush(); return p.w.Error() }

type jsonPrinter struct {
	w      io.Writer
	fields []string
}

func (p *jsonPrinter) header(s *arrow.Schema) {
	for _, f := range s.Fields() {
		p.fields = append(p.fields, f.Name)
	}
}

func (p *jsonPrinter) batch(b arrow.RecordBatch) {
	for r := 0; r < int(b.NumRows()); r++ {
		var sb strings.Builder
		sb.WriteByte('{')
		for c := 0; c < int(b.NumCols()); c++ {
			if c > 0 {
				sb.WriteByte(',')
			}
			k, _ := json.Marshal(p.fields[c])
			sb.Write(k)
			sb.WriteByte(':')
			arr := b.Column(c)
			v, ok := cell(arr, r)
			switch {
			case !ok:
				sb.WriteString("null")
			case isNumber(arr.DataType()):
				sb.WriteString(v)
			case arr.DataType().ID() == arrow.BOOL:
				sb.WriteString(v)
			default:
				s, _ := json.Marshal(v)
				sb.Write(s)
			}
		}
		sb.WriteString("}\n")
		io.WriteString(p.w, sb.String())
	}
}

func isNumber(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.INT16, arrow.INT32, arrow.INT64, arrow.DECIMAL128:
		return true
	case arrow.FLOAT32, arrow.FLOAT64:
		return true
	}
	return false
}

func (p *jsonPrinter) end() error { return nil }

// tablePrinter aligns columns like psql; it buffers the rows to size them.
type tablePrinter struct {
	w     io.Writer
	names []string
	right []bool
	rows  [][]string
}

func (p *tablePrinter) header(s *arrow.Schema) {
	for _, f := range s.Fields() {
		p.names = append(p.names, f.Name)
		p.right = append(p.right, isNumber(f.Type))
	}
}

func (p *tablePrinter) batch(b arrow.RecordBatch) {
	for r := 0; r < int(b.NumRows()); r++ {
		row := make([]string, b.NumCols())
		for c := range row {
			v, ok := cell(b.Column(c), r)
			if !ok {
				v = "NULL"
			}
			row[c] = v
		}
		p.rows = append(p.rows, row)
	}
}

func (p *tablePrinter) end() error {
	if len(p.names) == 0 {
		return nil
	}
	width := make([]int, len(p.names))
	for i, n := range p.names {
		width[i] = utf8.RuneCountInString(n)
	}
	for _, r := range p.rows {
		for i, v := range r {
			if n := utf8.RuneCountInString(v); n > width[i] {
				width[i] = n
			}
		}
	}
	pad := func(s string, w int, right bool) string {
		gap := strings.Repeat(" ", w-utf8.RuneCountInString(s))
		if right {
			return gap + s
		}
		return s + gap
	}
	var sb strings.Builder
	for i, n := range p.names {
		if i > 0 {
			sb.WriteString(" | ")
		}
		sb.WriteString(pad(n, width[i], false))
	}
	sb.WriteString("\n")
	for i := range p.names {
		if i > 0 {
			sb.WriteString("-+-")
		}
		sb.WriteString(strings.Repeat("-", width[i]))
	}
	sb.WriteString("\n")
	for _, r := range p.rows {
		for i, v := range r {
			if i > 0 {
				sb.WriteString(" | ")
			}
			sb.WriteString(pad(v, width[i], p.right[i]))
		}
		sb.WriteString("\n")
	}
	fmt.Fprintf(&sb, "(%d row%s)\n", len(p.rows), map[bool]string{true: "", false: "s"}[len(p.rows) == 1])
	_, err := io.WriteString(p.w, sb.String())
	return err
}
