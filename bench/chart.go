package main

import (
	"bytes"
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Size of the PNG chart in pixels, at chartDPI.
const (
	chartWidthPx  = 1400
	chartHeightPx = 900
	chartDPI      = 96
)

var (
	bellowsColor = color.RGBA{R: 230, G: 115, B: 25, A: 255}
	duckdbColor  = color.RGBA{R: 55, G: 105, B: 185, A: 255}
	ratioColor   = color.RGBA{R: 120, G: 120, B: 120, A: 255}
)

// WritePNG draws r as a PNG of chartWidthPx × chartHeightPx at path: on
// top, the median seconds of each query on both engines side by side; below,
// Bellows' median over DuckDB's per query, with lines at 1 and at the
// geometric mean. A query where an engine failed has no bar and is labelled
// ERR. r.Totals must be filled (Summarize). The file is replaced atomically.
func (r *Report) WritePNG(path string) error {
	if len(r.Queries) == 0 {
		return fmt.Errorf("no queries to chart")
	}
	times, err := r.timesPlot()
	if err != nil {
		return err
	}
	ratios, err := r.ratioPlot()
	if err != nil {
		return err
	}
	img := vgimg.NewWith(
		vgimg.UseWH(vg.Length(chartWidthPx)*vg.Inch/chartDPI, vg.Length(chartHeightPx)*vg.Inch/chartDPI),
		vgimg.UseDPI(chartDPI),
		vgimg.UseBackgroundColor(color.White),
	)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3,
		PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 5, PadY: vg.Millimeter * 6}
	plots := [][]*plot.Plot{{times}, {ratios}}
	canvases := plot.Align(plots, tiles, dc)
	times.Draw(canvases[0][0])
	ratios.Draw(canvases[1][0])

	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return err
	}
	return writeFileAtomic(path, buf.Bytes())
}

// queryLabels are the x-axis labels: the query names, with ERR under a
// query that failed on either engine.
func (r *Report) queryLabels() []string {
	names := make([]string, len(r.Queries))
	for i, q := range r.Queries {
		names[i] = q.Query
		if q.Bellows.Error != "" || q.DuckDB.Error != "" {
			names[i] += "\nERR"
		}
	}
	return names
}

// barWidth spreads n groups of k bars over most of the chart's width.
func barWidth(n, k int) vg.Length {
	w := vg.Length(chartWidthPx) * vg.Inch / chartDPI
	return w * 0.8 / vg.Length(n*(k+1))
}

func (r *Report) timesPlot() (*plot.Plot, error) {
	p := plot.New()
	m := r.Machine
	p.Title.Text = fmt.Sprintf("TPC-H SF %s: median of %d runs, %d threads — Bellows / DuckDB %s\n%s, %d CPUs, %s, commit %s",
		r.ScaleFactor, r.Runs, r.Threads, m.DuckDBVersion, m.CPUModel, m.NumCPU, m.Date, shortCommit(m))
	p.Y.Label.Text = "median seconds"
	p.Y.Min = 0
	var bv, dv plotter.Values
	top := 0.0
	for _, q := range r.Queries {
		bv = append(bv, okMedian(q.Bellows, q.DuckDB))
		dv = append(dv, okMedian(q.DuckDB, q.Bellows))
		top = max(top, bv[len(bv)-1], dv[len(dv)-1])
	}
	w := barWidth(len(r.Queries), 2)
	bars := []struct {
		name   string
		vals   plotter.Values
		col    color.Color
		offset vg.Length
	}{
		{fmt.Sprintf("Bellows (sum %.2fs)", r.Totals.BellowsSum), bv, bellowsColor, -w / 2},
		{fmt.Sprintf("DuckDB (sum %.2fs)", r.Totals.DuckDBSum), dv, duckdbColor, w / 2},
	}
	for _, b := range bars {
		bc, err := plotter.NewBarChart(b.vals, w)
		if err != nil {
			return nil, err
		}
		bc.Color = b.col
		bc.LineStyle.Width = 0
		bc.Offset = b.offset
		p.Add(bc)
		p.Legend.Add(b.name, bc)
	}
	p.Add(plotter.NewGrid())
	r.frame(p, top*1.2) // room for the legend
	return p, nil
}

func (r *Report) ratioPlot() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Bellows median / DuckDB median (sum ratio %.2f, geomean %.2f)", r.Totals.RatioOfSums, r.Totals.GeomeanRatio)
	p.Y.Label.Text = "ratio (lower is better for Bellows)"
	p.Y.Min = 0
	vals := make(plotter.Values, len(r.Queries))
	var labels plotter.XYLabels
	top := 1.0
	for i, q := range r.Queries {
		if q.Ratio != nil {
			vals[i] = *q.Ratio
			top = max(top, *q.Ratio)
			labels.XYs = append(labels.XYs, plotter.XY{X: float64(i), Y: *q.Ratio})
			labels.Labels = append(labels.Labels, fmt.Sprintf("%.1f", *q.Ratio))
		}
	}
	bc, err := plotter.NewBarChart(vals, barWidth(len(r.Queries), 1))
	if err != nil {
		return nil, err
	}
	bc.Color = ratioColor
	bc.LineStyle.Width = 0
	p.Add(plotter.NewGrid(), bc)
	if len(labels.XYs) > 0 {
		l, err := plotter.NewLabels(labels)
		if err != nil {
			return nil, err
		}
		for i := range l.TextStyle {
			l.TextStyle[i].XAlign = draw.XCenter
			l.TextStyle[i].YAlign = draw.YBottom
		}
		p.Add(l)
	}
	one := plotter.NewFunction(func(float64) float64 { return 1 })
	one.Color = color.Black
	p.Add(one)
	p.Legend.Add("1 = as fast as DuckDB", one)
	if r.Totals.GeomeanRatio > 0 {
		g := r.Totals.GeomeanRatio
		gm := plotter.NewFunction(func(float64) float64 { return g })
		gm.Color = bellowsColor
		gm.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
		p.Add(gm)
		p.Legend.Add(fmt.Sprintf("geomean %.2f", g), gm)
	}
	r.frame(p, top*1.15) // room for the value labels
	return p, nil
}

// frame sets the axes' ranges so that whole bars show (a bar of a group
// sticks out of its x position by its offset) with the legend above them,
// and names the queries along x.
func (r *Report) frame(p *plot.Plot, ymax float64) {
	if ymax > 0 {
		p.Y.Max = ymax
	}
	p.X.Min, p.X.Max = -0.6, float64(len(r.Queries))-0.4
	p.Legend.Top = true
	p.NominalX(r.queryLabels()...)
}

// okMedian is e's median, or 0 when either engine failed the query (the
// bar is left out rather than drawn for one side only).
func okMedian(e, other EngineResult) float64 {
	if e.Error != "" || other.Error != "" {
		return 0
	}
	return e.Median
}

func shortCommit(m Machine) string {
	c := m.GitCommit
	if c == "" {
		return "unknown"
	}
	if len(c) > 12 {
		c = c[:12]
	}
	if m.GitDirty {
		c += " (dirty)"
	}
	return c
}
