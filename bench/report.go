// The report: per cell and system, the medians over repetitions, the
// Kontiki/peer ratios per repetition and their median, the floor, and the
// project's targets; as a terminal table, Markdown and JSON.
package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// kontikiTree identifies the Kontiki code measured: the bench module
// builds against the working tree (replace => ../), which other engineers
// change while we run.
type kontikiTree struct {
	Commit     string `json:"commit"`
	DirtyFiles int    `json:"dirty_files"` // changed or untracked outside bench/
	DiffSHA256 string `json:"diff_sha256,omitempty"`
}

func readKontikiTree() kontikiTree {
	var t kontikiTree
	out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		t.Commit = "unknown (" + err.Error() + ")"
		return t
	}
	t.Commit = strings.TrimSpace(string(out))
	top, _ := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	root := strings.TrimSpace(string(top))
	st, _ := exec.Command("git", "-C", root, "status", "--porcelain", "--", ".", ":(exclude)bench", ":(exclude)docs").Output()
	for _, l := range strings.Split(string(st), "\n") {
		if strings.TrimSpace(l) != "" {
			t.DirtyFiles++
		}
	}
	if diff, err := exec.Command("git", "-C", root, "diff", "HEAD", "--", ".", ":(exclude)bench", ":(exclude)docs").Output(); err == nil && len(diff) > 0 {
		t.DiffSHA256 = fmt.Sprintf("%x", sha256.Sum256(diff))[:12]
	}
	return t
}

type machine struct {
	Nproc     string `json:"nproc"`
	Lscpu     string `json:"lscpu_head"`
	Df        string `json:"df_data_disk"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
}

type systemInfo struct {
	Name    string `json:"name"`
	Label   string `json:"label"`
	Durable bool   `json:"durable"`
	Notes   string `json:"notes"`
}

type settings struct {
	Reps       int      `json:"reps"`
	Systems    []string `json:"systems"`
	Cells      []cell   `json:"cells"`
	WarmSec    float64  `json:"warm_sec"`
	MeasureSec float64  `json:"measure_sec"`
	Keys       int      `json:"keys"`
	Topology   string   `json:"topology"`
}

type ratio struct {
	PerRep []float64 `json:"per_rep"`
	Median float64   `json:"median"`
}

type cellSummary struct {
	Cell       string   `json:"cell"`
	System     string   `json:"system"`
	Reps       int      `json:"reps"`
	OpsPerSec  float64  `json:"ops_per_sec_median"`
	P50us      float64  `json:"p50_us_median"`
	P99us      float64  `json:"p99_us_median"`
	P999us     float64  `json:"p999_us_median"`
	CPUusPerOp float64  `json:"cpu_us_per_op_median"`
	SyncsPerOp *float64 `json:"syncs_per_op_median,omitempty"`
	Errors     uint64   `json:"errors_total"`
	SlowOps    uint64   `json:"slow_ops_total"`
	PeakRSSKB  uint64   `json:"peak_rss_kb_max,omitempty"`
	// OtherCores: CPU the rest of the machine used during the windows
	// (median over reps): disturbance by other work.
	OtherCores float64 `json:"other_cores_median"`
	// Kontiki ÷ this system, per repetition (peers only).
	KontikiOpsRatio *ratio `json:"kontiki_over_peer_ops,omitempty"`
	KontikiP50Ratio *ratio `json:"kontiki_over_peer_p50,omitempty"`
	// P50OverFloor: this system's p50 ÷ (fsync p50 + 2 × NATS RTT), seq cells.
	P50OverFloor *ratio `json:"p50_over_floor,omitempty"`
}

type floorSummary struct {
	FsyncAppend3P50us    float64 `json:"fsync_append_3_writers_p50_us"`
	FsyncOverwrite3P50us float64 `json:"fsync_overwrite_3_writers_p50_us"`
	FsyncAppend1P50us    float64 `json:"fsync_append_1_writer_p50_us"`
	NATSLocalP50us       float64 `json:"nats_rtt_one_server_p50_us"`
	NATSRouteP50us       float64 `json:"nats_rtt_across_route_p50_us"`
	FloorUs              float64 `json:"floor_us"`
	SeqLowerBoundUs      float64 `json:"seq_lower_bound_us"` // seqLowerBoundUs of the fields above
	Reps                 int     `json:"reps"`
}

type targetCheck struct {
	Target   string  `json:"target"`
	Measured float64 `json:"measured"`
	Limit    float64 `json:"limit"`
	Met      bool    `json:"met"`
	// LimitUs and LowerBoundUs are set on the sequential ratio targets: the
	// p50 the target asks of Kontiki in µs (limit × the peer's median p50),
	// and the lower bound this run measured for any leader-based durable put
	// (see seqLowerBoundUs). BelowLowerBound: the target asks for less than
	// that bound, so no implementation could meet it in this run.
	LimitUs         float64 `json:"limit_us,omitempty"`
	LowerBoundUs    float64 `json:"lower_bound_us,omitempty"`
	BelowLowerBound bool    `json:"below_lower_bound,omitempty"`
}

// seqLowerBoundUs estimates, from this run's floor medians, the least p50 a
// sequential durable put can have in this topology whatever the system: the
// client's request and reply cross NATS at least once (best case: the leader
// sits on the client's own server, one-server RTT), the leader needs one
// other member's durable ack (a route RTT, the follower's fsync while the
// other two members fsync too), and its own fsync overlaps that. The cheaper
// of the two 3-writer fsync figures is taken, so the bound errs low.
func seqLowerBoundUs(f *floorSummary) float64 {
	if f == nil {
		return 0
	}
	return min(f.FsyncAppend3P50us, f.FsyncOverwrite3P50us) + f.NATSLocalP50us + f.NATSRouteP50us
}

type report struct {
	Command     string        `json:"command"`
	Date        string        `json:"date"`
	Machine     machine       `json:"machine"`
	Kontiki     kontikiTree   `json:"kontiki_tree"`
	Mode        string        `json:"mode"`
	Settings    settings      `json:"settings"`
	Systems     []systemInfo  `json:"systems"`
	Floor       *floorSummary `json:"floor,omitempty"`
	Summary     []cellSummary `json:"summary"`
	Targets     []targetCheck `json:"targets,omitempty"`
	Runs        []childResult `json:"runs"`
	DurationSec float64       `json:"duration_sec"`

	cfg   *config
	cells []cell
}

const topology = "one process per system and repetition; in it, three members (each with its own data dir on the same disk) and the clients; loopback"

func newReport(c *config, cells []cell, dataRoot string) *report {
	mode := "full"
	switch {
	case c.memory:
		mode = "memory"
	case c.quick:
		mode = "quick"
	}
	r := &report{
		Command: "go run . " + strings.Join(os.Args[1:], " "),
		Date:    time.Now().UTC().Format(time.RFC3339),
		Mode:    mode,
		Settings: settings{Reps: c.reps, Systems: c.systems, Cells: cells, WarmSec: c.warm.Seconds(),
			MeasureSec: c.measure.Seconds(), Keys: c.keys, Topology: topology},
		cfg: c, cells: cells, Kontiki: readKontikiTree(),
	}
	if c.memory {
		r.Settings.MeasureSec = c.memDuration.Seconds()
	}
	for _, s := range c.systems {
		sys, _ := systemByName(s)
		r.Systems = append(r.Systems, systemInfo{Name: sys.name, Label: sys.label, Durable: sys.durable, Notes: sys.notes})
	}
	sh := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			return "(" + err.Error() + ")"
		}
		return strings.TrimSpace(string(out))
	}
	lscpu := strings.Split(sh("lscpu"), "\n")
	r.Machine = machine{Nproc: sh("nproc"), Lscpu: strings.Join(lscpu[:min(len(lscpu), 15)], "\n"),
		Df: sh("df", "-h", dataRoot), Kernel: sh("uname", "-sr"), GoVersion: runtime.Version()}
	return r
}

func (r *report) add(res childResult) { r.Runs = append(r.Runs, res) }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// result finds system's result for a cell in repetition rep.
func (r *report) result(system string, rep int, cellName string) *cellResult {
	for i := range r.Runs {
		run := &r.Runs[i]
		if run.Mode != "system" || run.System != system || run.Rep != rep {
			continue
		}
		for j := range run.Cells {
			if run.Cells[j].Cell.Name == cellName {
				return &run.Cells[j]
			}
		}
	}
	return nil
}

func (r *report) floorOf(rep int) *floorResult {
	for _, run := range r.Runs {
		if run.Mode == "floor" && run.Rep == rep {
			return run.Floor
		}
	}
	return nil
}

func (r *report) summarize() {
	var fl [6][]float64
	for rep := 1; rep <= r.cfg.reps; rep++ {
		if f := r.floorOf(rep); f != nil {
			for i, v := range []float64{f.FsyncAppend3.P50us, f.FsyncOverwrite3.P50us, f.FsyncAppend1.P50us, f.NATSLocal.P50us, f.NATSRoute.P50us, f.FloorUs} {
				fl[i] = append(fl[i], v)
			}
		}
	}
	if len(fl[0]) > 0 {
		r.Floor = &floorSummary{FsyncAppend3P50us: median(fl[0]), FsyncOverwrite3P50us: median(fl[1]), FsyncAppend1P50us: median(fl[2]),
			NATSLocalP50us: median(fl[3]), NATSRouteP50us: median(fl[4]), FloorUs: median(fl[5]), Reps: len(fl[0])}
		r.Floor.SeqLowerBoundUs = seqLowerBoundUs(r.Floor)
	}
	for _, c := range r.cells {
		for _, sys := range r.cfg.systems {
			s := cellSummary{Cell: c.Name, System: sys}
			var ops, p50, p99, p999, cpu, syncs, other []float64
			var opsR, p50R, floorR []float64
			for rep := 1; rep <= r.cfg.reps; rep++ {
				res := r.result(sys, rep, c.Name)
				if res == nil {
					continue
				}
				s.Reps++
				ops = append(ops, res.OpsPerSec)
				p50 = append(p50, res.Latency.P50us)
				p99 = append(p99, res.Latency.P99us)
				p999 = append(p999, res.Latency.P999us)
				cpu = append(cpu, res.CPUusPerOp)
				other = append(other, res.OtherCores)
				if res.SyncsPerOp != nil {
					syncs = append(syncs, *res.SyncsPerOp)
				}
				s.Errors += res.Errors
				s.SlowOps += res.SlowOps
				s.PeakRSSKB = max(s.PeakRSSKB, res.PeakRSSKB)
				if k := r.result("kontiki", rep, c.Name); sys != "kontiki" && k != nil && res.OpsPerSec > 0 && res.Latency.P50us > 0 {
					opsR = append(opsR, k.OpsPerSec/res.OpsPerSec)
					p50R = append(p50R, k.Latency.P50us/res.Latency.P50us)
				}
				if f := r.floorOf(rep); c.Clients == 1 && c.GetFrac == 0 && f != nil && f.FloorUs > 0 {
					floorR = append(floorR, res.Latency.P50us/f.FloorUs)
				}
			}
			if s.Reps == 0 {
				continue
			}
			s.OpsPerSec, s.P50us, s.P99us, s.P999us, s.CPUusPerOp = median(ops), median(p50), median(p99), median(p999), median(cpu)
			s.OtherCores = median(other)
			if len(syncs) > 0 {
				v := median(syncs)
				s.SyncsPerOp = &v
			}
			if len(opsR) > 0 {
				s.KontikiOpsRatio = &ratio{PerRep: opsR, Median: median(opsR)}
				s.KontikiP50Ratio = &ratio{PerRep: p50R, Median: median(p50R)}
			}
			if len(floorR) > 0 {
				s.P50OverFloor = &ratio{PerRep: floorR, Median: median(floorR)}
			}
			r.Summary = append(r.Summary, s)
		}
	}
	r.checkTargets()
}

func (r *report) summary(cellName, system string) *cellSummary {
	for i := range r.Summary {
		if r.Summary[i].Cell == cellName && r.Summary[i].System == system {
			return &r.Summary[i]
		}
	}
	return nil
}

func (r *report) checkTargets() {
	if r.cfg.memory {
		return
	}
	add := func(target string, measured, limit float64, atMost bool) {
		met := measured >= limit
		if atMost {
			met = measured <= limit
		}
		r.Targets = append(r.Targets, targetCheck{Target: target, Measured: measured, Limit: limit, Met: met})
	}
	// addSeqRatio also records what the ratio asks in µs against the run's
	// lower bound, so a reader sees when a target is out of any system's reach.
	addSeqRatio := func(target string, s *cellSummary, limit float64) {
		add(target, s.KontikiP50Ratio.Median, limit, true)
		if lb := seqLowerBoundUs(r.Floor); lb > 0 {
			tc := &r.Targets[len(r.Targets)-1]
			tc.LimitUs = limit * s.P50us
			tc.LowerBoundUs = lb
			tc.BelowLowerBound = tc.LimitUs < lb
		}
	}
	if s := r.summary("seq/128B", "jetstream"); s != nil && s.KontikiP50Ratio != nil {
		addSeqRatio("seq/128B put p50: Kontiki ÷ JetStream KV (sync always) ≤ 0.5 (median of per-rep ratios)", s, 0.5)
	}
	if s := r.summary("seq/128B", "etcd"); s != nil && s.KontikiP50Ratio != nil {
		addSeqRatio("seq/128B put p50: Kontiki ÷ etcd ≤ 0.4", s, 0.4)
	}
	if s := r.summary("seq/128B", "kontiki"); s != nil && s.P50OverFloor != nil {
		add("seq/128B put p50: Kontiki ÷ floor (fsync p50 + 2 × NATS RTT) ≤ 1.5", s.P50OverFloor.Median, 1.5, true)
	}
	if s := r.summary("c64/128B", "jetstream"); s != nil && s.KontikiOpsRatio != nil {
		add("c64/128B ops/s: Kontiki ÷ JetStream KV (sync always) ≥ 2", s.KontikiOpsRatio.Median, 2, false)
	}
	if s := r.summary("c64/128B", "jetstream-lazy"); s != nil && s.KontikiOpsRatio != nil {
		add("c64/128B ops/s: Kontiki ÷ JetStream KV (default, non-durable) ≥ 0.8", s.KontikiOpsRatio.Median, 0.8, false)
	}
	if s := r.summary("c64/128B", "kontiki"); s != nil {
		add("c64/128B CPU µs per committed put (whole process) ≤ 50", s.CPUusPerOp, 50, true)
	}
}

// reachability says, for a sequential ratio target, whether the p50 it asks
// for lies above this run's lower bound.
func reachability(tc targetCheck) string {
	if tc.LowerBoundUs == 0 {
		return ""
	}
	verdict := "yes"
	if tc.BelowLowerBound {
		verdict = "NO"
	}
	return fmt.Sprintf("%s: asks p50 ≤ %.0f µs, lower bound %.0f µs", verdict, tc.LimitUs, tc.LowerBoundUs)
}

func label(system string) string {
	s, err := systemByName(system)
	if err != nil {
		return system
	}
	return s.label
}

func f0(v float64) string { return fmt.Sprintf("%.0f", v) }
func f1(v float64) string { return fmt.Sprintf("%.1f", v) }
func f2(v float64) string { return fmt.Sprintf("%.2f", v) }

func ratioText(r *ratio) string {
	if r == nil {
		return "—"
	}
	var parts []string
	for _, v := range r.PerRep {
		parts = append(parts, f2(v))
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts, " ") + " → " + f2(r.Median)
}

// table is a header and rows, rendered for a terminal or as Markdown.
type table struct {
	title  string
	header []string
	rows   [][]string
}

func (t table) text() string {
	var b strings.Builder
	b.WriteString(t.title + "\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(t.header, "\t")+"\t")
	for _, row := range t.rows {
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
	return b.String()
}

func (t table) markdown() string {
	var b strings.Builder
	b.WriteString("**" + t.title + "**\n\n")
	b.WriteString("| " + strings.Join(t.header, " | ") + " |\n")
	seps := make([]string, len(t.header))
	for i := range seps {
		seps[i] = "---"
		if i > 0 {
			seps[i] = "---:"
		}
	}
	b.WriteString("|" + strings.Join(seps, "|") + "|\n")
	for _, row := range t.rows {
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	return b.String()
}

func (r *report) tables() []table {
	var ts []table
	if r.cfg.memory {
		t := table{title: fmt.Sprintf("Memory: c256/128B puts for %.0f s", r.Settings.MeasureSec),
			header: []string{"system", "ops/s", "peak RSS in window (MiB)", "peak RSS, 1st → 2nd half of the window (MiB)", "process peak RSS VmHWM (MiB)", "errors", "other load (cores)"}}
		for _, s := range r.Summary {
			var hwm, first, second uint64
			for _, run := range r.Runs {
				if run.System != s.System {
					continue
				}
				hwm = max(hwm, run.PeakRSSKB)
				for _, c := range run.Cells {
					f, l := halvesPeak(c.RSSKBPerSecond)
					first, second = max(first, f), max(second, l)
				}
			}
			halves := "—"
			if first > 0 && second > 0 {
				halves = f0(float64(first)/1024) + " → " + f0(float64(second)/1024)
			}
			t.rows = append(t.rows, []string{label(s.System), f0(s.OpsPerSec), f0(float64(s.PeakRSSKB) / 1024), halves, f0(float64(hwm) / 1024), fmt.Sprint(s.Errors), f2(s.OtherCores)})
		}
		return append(ts, t)
	}
	for _, c := range r.cells {
		t := table{title: fmt.Sprintf("%s — %d client(s), %d B values%s", c.Name, c.Clients, c.ValueBytes, map[bool]string{true: ", 90% linearizable get / 10% put", false: ", puts"}[c.GetFrac > 0]),
			header: []string{"system", "ops/s", "p50 µs", "p99 µs", "p99.9 µs", "CPU µs/op", "fsync/op", "errors", "other load (cores)", "Kontiki÷peer ops/s (per rep → median)", "Kontiki÷peer p50"}}
		seq := c.Clients == 1 && c.GetFrac == 0
		if seq {
			t.header = append(t.header, "p50 ÷ floor")
		}
		for _, sys := range r.cfg.systems {
			s := r.summary(c.Name, sys)
			if s == nil {
				continue
			}
			syncs := "n/a"
			if s.SyncsPerOp != nil {
				syncs = f2(*s.SyncsPerOp)
			}
			errs := fmt.Sprint(s.Errors)
			if s.SlowOps > 0 {
				errs += fmt.Sprintf(" (%d >1s)", s.SlowOps)
			}
			row := []string{label(sys), f0(s.OpsPerSec), f0(s.P50us), f0(s.P99us), f0(s.P999us), f1(s.CPUusPerOp), syncs, errs, f2(s.OtherCores), ratioText(s.KontikiOpsRatio), ratioText(s.KontikiP50Ratio)}
			if seq {
				row = append(row, ratioText(s.P50OverFloor))
			}
			t.rows = append(t.rows, row)
		}
		ts = append(ts, t)
	}
	if len(r.Targets) > 0 {
		t := table{title: "Targets (128 B)", header: []string{"target", "measured", "limit", "met", "reachable"}}
		for _, tc := range r.Targets {
			t.rows = append(t.rows, []string{tc.Target, f2(tc.Measured), f2(tc.Limit), map[bool]string{true: "yes", false: "NO"}[tc.Met], reachability(tc)})
		}
		ts = append(ts, t)
	}
	return ts
}

func (r *report) floorLines() []string {
	if r.Floor == nil {
		return nil
	}
	f := r.Floor
	return []string{
		fmt.Sprintf("fdatasync of a 128 B record, 3 writers in parallel (append): p50 %.0f µs; into preallocated space: %.0f µs; 1 writer (append): %.0f µs", f.FsyncAppend3P50us, f.FsyncOverwrite3P50us, f.FsyncAppend1P50us),
		fmt.Sprintf("NATS request/reply 128 B on loopback: p50 %.0f µs on one server, %.0f µs across a route", f.NATSLocalP50us, f.NATSRouteP50us),
		fmt.Sprintf("floor = fsync p50 (3 writers, append) + 2 × NATS RTT (across a route) = %.0f µs (medians of %d rep(s))", f.FloorUs, f.Reps),
		fmt.Sprintf("lower bound of a sequential durable put, any system = the cheaper 3-writer fsync p50 + NATS RTT on one server (client ↔ leader at best) + NATS RTT across a route (leader ↔ follower) = %.0f µs", seqLowerBoundUs(f)),
	}
}

func (r *report) header() []string {
	lines := []string{
		fmt.Sprintf("Kontiki side by side — %s, mode %s, %d repetition(s) interleaved (%s), %.0f s warm-up + %.0f s measured per cell, %d uniform keys",
			r.Date, r.Mode, r.Settings.Reps, strings.Join(r.cfg.systems, " "), r.Settings.WarmSec, r.Settings.MeasureSec, r.Settings.Keys),
		"Topology: " + topology + ". Figures are medians over repetitions; CPU is the whole process (servers + clients) from getrusage(RUSAGE_SELF) deltas over the measured window, per completed op; \"other load\" is the CPU the rest of the machine used meanwhile (from /proc/stat), i.e. disturbance.",
		fmt.Sprintf("Kontiki tree: commit %s, %d changed/untracked files outside bench/ and docs/ (diff sha256 %s). Total wall time: %.1f min.", r.Kontiki.Commit, r.Kontiki.DirtyFiles, orDash(r.Kontiki.DiffSHA256), r.DurationSec/60),
	}
	return lines
}

func (r *report) text() string {
	var b strings.Builder
	b.WriteString("\n")
	for _, l := range r.header() {
		b.WriteString(l + "\n")
	}
	for _, l := range r.floorLines() {
		b.WriteString(l + "\n")
	}
	for _, t := range r.tables() {
		b.WriteString("\n" + t.text())
	}
	b.WriteString("\nSystems:\n")
	for _, s := range r.Systems {
		b.WriteString(fmt.Sprintf("  %s: %s\n", s.Label, s.Notes))
	}
	if probs := r.problems(); len(probs) > 0 {
		b.WriteString("\nProblems seen:\n")
		for _, p := range probs {
			b.WriteString("  " + p + "\n")
		}
	}
	return b.String()
}

func (r *report) markdown() string {
	var b strings.Builder
	for _, l := range r.header() {
		b.WriteString(l + "\n\n")
	}
	if fl := r.floorLines(); len(fl) > 0 {
		b.WriteString("Floor, measured in the same run:\n\n")
		for _, l := range fl {
			b.WriteString("- " + l + "\n")
		}
		b.WriteString("\n")
	}
	for _, t := range r.tables() {
		b.WriteString(t.markdown() + "\n")
	}
	b.WriteString("Systems:\n\n")
	for _, s := range r.Systems {
		b.WriteString(fmt.Sprintf("- **%s**: %s\n", s.Label, s.Notes))
	}
	if probs := r.problems(); len(probs) > 0 {
		b.WriteString("\nProblems seen:\n\n")
		for _, p := range probs {
			b.WriteString("- " + p + "\n")
		}
	}
	return b.String()
}

// problems lists failed runs, errors, stalls and leader changes.
func (r *report) problems() []string {
	var out []string
	for _, run := range r.Runs {
		who := fmt.Sprintf("%s rep %d", run.System, run.Rep)
		if run.Mode == "floor" {
			who = fmt.Sprintf("floor rep %d", run.Rep)
		}
		if run.Err != "" {
			out = append(out, who+": "+run.Err)
		}
		if run.CloseErr != "" {
			out = append(out, who+": close: "+run.CloseErr)
		}
		for _, c := range run.Cells {
			if c.Errors > 0 {
				out = append(out, fmt.Sprintf("%s %s: %d errors, first: %s", who, c.Cell.Name, c.Errors, c.FirstError))
			}
			if c.SlowOps > 0 {
				out = append(out, fmt.Sprintf("%s %s: %d ops slower than 1 s (max %.0f ms); per second: %v", who, c.Cell.Name, c.SlowOps, c.Latency.MaxUs/1e3, c.PerSecond))
			}
			if c.Straggled != 0 {
				out = append(out, fmt.Sprintf("%s %s: %d clients still in an operation 40 s after the window", who, c.Cell.Name, c.Straggled))
			}
			for _, z := range c.PerSecond {
				if z == 0 && c.Ops > 0 {
					out = append(out, fmt.Sprintf("%s %s: a second with no completed operation; per second: %v", who, c.Cell.Name, c.PerSecond))
					break
				}
			}
		}
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// halvesPeak returns the peaks of the first and the second half of a
// per-second series (0, 0 for fewer than two samples): a second-half peak
// no higher than the first's is a plateau, not growth.
func halvesPeak(series []uint64) (first, second uint64) {
	if len(series) < 2 {
		return 0, 0
	}
	mid := len(series) / 2
	for _, v := range series[:mid] {
		first = max(first, v)
	}
	for _, v := range series[mid:] {
		second = max(second, v)
	}
	return first, second
}
