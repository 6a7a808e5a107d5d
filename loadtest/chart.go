package loadtest

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Chart geometry, in SVG user units.
const (
	chartW      = 1300
	chartH      = 320
	chartLeft   = 70
	chartRight  = 20
	chartTop    = 40
	chartBottom = 40
)

// series is one line of a chart: a value per second, NaN for none.
type series struct {
	name  string
	color string
	dash  bool
	ys    []float64
}

// mark is a vertical line at x seconds with a label.
type mark struct {
	x     float64
	label string
}

// band is a shaded span of seconds with a label (a phase).
type band struct {
	from, to float64
	label    string
}

// chart is a line chart over the seconds of a run, drawn as inline SVG.
type chart struct {
	title  string
	unit   string // of the y axis
	logY   bool
	width  float64 // seconds on the x axis
	series []series
	marks  []mark
	bands  []band
}

// svg renders c.
func (c *chart) svg() string {
	var b strings.Builder
	lo, hi := c.yRange()
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" width="100%%" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="%s">`,
		chartW, chartH, html.EscapeString(c.title))
	fmt.Fprintf(&b, `<text x="%d" y="20" class="title">%s</text>`, chartLeft, html.EscapeString(c.title))
	c.drawBands(&b)
	c.drawYAxis(&b, lo, hi)
	c.drawXAxis(&b)
	for _, s := range c.series {
		c.drawSeries(&b, s, lo, hi)
	}
	c.drawMarks(&b)
	c.drawLegend(&b)
	b.WriteString(`</svg>`)
	return b.String()
}

// plot area edges.
func plotX0() float64 { return chartLeft }
func plotX1() float64 { return chartW - chartRight }
func plotY0() float64 { return chartH - chartBottom } // bottom
func plotY1() float64 { return chartTop }             // top

// xAt maps seconds to SVG x.
func (c *chart) xAt(t float64) float64 {
	w := math.Max(c.width, 1)
	return plotX0() + (plotX1()-plotX0())*t/w
}

// yAt maps a value to SVG y.
func (c *chart) yAt(v, lo, hi float64) float64 {
	f := (v - lo) / (hi - lo)
	if c.logY {
		f = (math.Log10(math.Max(v, lo)) - math.Log10(lo)) / (math.Log10(hi) - math.Log10(lo))
	}
	f = math.Max(0, math.Min(1, f))
	return plotY0() - (plotY0()-plotY1())*f
}

// yRange returns the y axis bounds: 0 to a round maximum, or decades for
// a log axis.
func (c *chart) yRange() (float64, float64) {
	mx, mn := 0.0, math.Inf(1)
	for _, s := range c.series {
		for _, y := range s.ys {
			if math.IsNaN(y) {
				continue
			}
			mx = math.Max(mx, y)
			if y > 0 {
				mn = math.Min(mn, y)
			}
		}
	}
	if c.logY {
		if math.IsInf(mn, 1) {
			return 0.1, 1000
		}
		lo := math.Pow(10, math.Floor(math.Log10(mn)))
		hi := math.Pow(10, math.Ceil(math.Log10(mx)))
		if hi <= lo {
			hi = lo * 10
		}
		return lo, hi
	}
	return 0, niceCeil(mx)
}

// niceCeil rounds x up to 1, 2 or 5 times a power of ten (at least 1).
func niceCeil(x float64) float64 {
	if x <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if x <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// drawYAxis draws the horizontal grid lines and their labels.
func (c *chart) drawYAxis(b *strings.Builder, lo, hi float64) {
	var ticks []float64
	if c.logY {
		for v := lo; v <= hi*1.0001; v *= 10 {
			ticks = append(ticks, v)
		}
	} else {
		for i := 0; i <= 5; i++ {
			ticks = append(ticks, lo+(hi-lo)*float64(i)/5)
		}
	}
	for _, v := range ticks {
		y := c.yAt(v, lo, hi)
		fmt.Fprintf(b, `<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, plotX0(), y, plotX1(), y)
		fmt.Fprintf(b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, plotX0()-6, y+4, c.fmtTick(v))
	}
}

// fmtTick formats a y tick in the chart's unit.
func (c *chart) fmtTick(v float64) string {
	if c.unit == "ms" {
		switch {
		case v >= 1000:
			return trimFloat(v/1000) + "s"
		default:
			return trimFloat(v) + "ms"
		}
	}
	switch {
	case v >= 1e6:
		return trimFloat(v/1e6) + "M"
	case v >= 1e3:
		return trimFloat(v/1e3) + "k"
	}
	return trimFloat(v)
}

// trimFloat formats v with up to 3 decimals and no trailing zeros.
func trimFloat(v float64) string {
	s := fmt.Sprintf("%.3f", v)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// drawXAxis draws the time ticks.
func (c *chart) drawXAxis(b *strings.Builder) {
	step := 3600.0
	for _, st := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800} {
		if c.width/st <= 15 {
			step = st
			break
		}
	}
	fmt.Fprintf(b, `<line class="axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, plotX0(), plotY0(), plotX1(), plotY0())
	for t := 0.0; t <= c.width+1e-9; t += step {
		x := c.xAt(t)
		fmt.Fprintf(b, `<line class="axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, x, plotY0(), x, plotY0()+5)
		fmt.Fprintf(b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="middle">%ss</text>`, x, plotY0()+20, trimFloat(t))
	}
}

// drawSeries draws one line, broken where it has no value.
func (c *chart) drawSeries(b *strings.Builder, s series, lo, hi float64) {
	dash := ""
	if s.dash {
		dash = ` stroke-dasharray="6 4"`
	}
	var pts []string
	flush := func() {
		if len(pts) > 0 {
			fmt.Fprintf(b, `<polyline class="series" data-series="%s" fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`,
				html.EscapeString(s.name), s.color, dash, strings.Join(pts, " "))
		}
		pts = pts[:0]
	}
	for i, y := range s.ys {
		if math.IsNaN(y) {
			flush()
			continue
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", c.xAt(float64(i)+0.5), c.yAt(y, lo, hi)))
	}
	flush()
}

// drawBands shades the phases.
func (c *chart) drawBands(b *strings.Builder) {
	for i, bd := range c.bands {
		x0, x1 := c.xAt(bd.from), c.xAt(bd.to)
		if i%2 == 1 {
			fmt.Fprintf(b, `<rect class="band" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, x0, plotY1(), x1-x0, plotY0()-plotY1())
		}
		fmt.Fprintf(b, `<text class="bandlabel" x="%.1f" y="%.1f">%s</text>`, x0+4, plotY1()+12, html.EscapeString(bd.label))
	}
}

// drawMarks draws the vertical marks (actions).
func (c *chart) drawMarks(b *strings.Builder) {
	for _, m := range c.marks {
		x := c.xAt(m.x)
		fmt.Fprintf(b, `<line class="mark" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, x, plotY1(), x, plotY0())
		fmt.Fprintf(b, `<text class="marklabel" x="%.1f" y="%.1f">%s</text>`, x+3, plotY0()-6, html.EscapeString(m.label))
	}
}

// drawLegend draws the series' names and colours, top right.
func (c *chart) drawLegend(b *strings.Builder) {
	x := plotX1()
	for i := len(c.series) - 1; i >= 0; i-- {
		s := c.series[i]
		x -= 14 + 7*float64(len(s.name)) + 16
		fmt.Fprintf(b, `<rect x="%.1f" y="12" width="12" height="12" fill="%s"/>`, x, s.color)
		fmt.Fprintf(b, `<text class="legend" x="%.1f" y="22">%s</text>`, x+16, html.EscapeString(s.name))
	}
}
