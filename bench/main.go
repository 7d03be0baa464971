// Command bench runs Kontiki and its peers side by side on loopback, three
// members each, durable settings for all, and reports throughput, latency,
// CPU and fsyncs per operation against the disk's and the network's floor.
//
//	go run . -quick          # CI: Kontiki and JetStream KV, two cells, < 3 min
//	go run .                 # the full matrix, 3 repetitions
//	go run . -memory         # peak RSS during 60 s at 256 clients
//
// See README.md.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

type config struct {
	quick, memory bool
	reps          int
	systems       []string
	workloads     []string
	values        []int
	warm, measure time.Duration
	memDuration   time.Duration
	floorDuration time.Duration
	keys          int
	opTimeout     time.Duration
	out, md       string
	dataDir       string
	logDir        string
	keepData      bool
	profileDir    string
	profileCell   string
	noFloor       bool
	logLevel      string
	quietWait     time.Duration
	quietCores    float64
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-child" {
		os.Exit(runChild(os.Args[2]))
	}
	var c config
	var systemsFlag, workloadsFlag, valuesFlag string
	flag.BoolVar(&c.quick, "quick", false, "CI mode: seq and c64 puts of 128 B, kontiki and jetstream (sync always), 1 repetition")
	flag.BoolVar(&c.memory, "memory", false, "memory mode: peak RSS of each system during -memory-duration at 256 clients, 128 B puts")
	flag.IntVar(&c.reps, "reps", 0, "repetitions, systems interleaved A B C A B C (default 3; 1 with -quick or -memory)")
	flag.StringVar(&systemsFlag, "systems", "", "comma-separated systems (default: kontiki,jetstream,jetstream-lazy,etcd,hraft; -quick: kontiki,jetstream)")
	flag.StringVar(&workloadsFlag, "workloads", "", "comma-separated workloads: seq, cN (N closed-loop put clients), mixN (90% linearizable get, 10% put, N clients) (default seq,c8,c64,c256,mix64; -quick: seq,c64)")
	flag.StringVar(&valuesFlag, "values", "", "comma-separated value sizes in bytes (default 128,1024,4096; -quick: 128)")
	flag.DurationVar(&c.warm, "warm", 2*time.Second, "warm-up per cell")
	flag.DurationVar(&c.measure, "measure", 10*time.Second, "measured window per cell")
	flag.DurationVar(&c.memDuration, "memory-duration", 60*time.Second, "measured window of -memory")
	flag.DurationVar(&c.floorDuration, "floor-duration", 3*time.Second, "duration of each floor measurement")
	flag.IntVar(&c.keys, "keys", 100000, "uniform key space")
	flag.DurationVar(&c.opTimeout, "op-timeout", 10*time.Second, "deadline of one client operation")
	flag.StringVar(&c.out, "out", "results.json", "JSON results file")
	flag.StringVar(&c.md, "md", "", "also write the tables as Markdown to this file")
	flag.StringVar(&c.dataDir, "data-dir", "", "where the members' data dirs go (default: a new dir under $TMPDIR); must be on the disk under test")
	flag.StringVar(&c.logDir, "logs", "", "where each child's stderr (the systems' warnings) goes (default: <out>.logs)")
	flag.BoolVar(&c.keepData, "keep-data", false, "keep the members' data dirs")
	flag.StringVar(&c.profileDir, "profile", "", "write CPU and allocation profiles of the -profile-cell window of each system here")
	flag.StringVar(&c.profileCell, "profile-cell", "c64/128B", "the cell -profile profiles")
	flag.StringVar(&c.logLevel, "log-level", "warn", "log level of Kontiki's slog logger in the children's logs (debug, info, warn, error)")
	flag.BoolVar(&c.noFloor, "no-floor", false, "skip the floor measurements")
	flag.DurationVar(&c.quietWait, "quiet-wait", time.Minute, "before each run, wait up to this long for the machine to be quiet (other processes below -quiet-cores); 0: don't wait (default 1m; 15s with -quick)")
	flag.Float64Var(&c.quietCores, "quiet-cores", 0.3, "the machine counts as quiet below this many busy cores")
	flag.Parse()
	explicit := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if c.quick && !explicit["quiet-wait"] {
		c.quietWait = 15 * time.Second
	}

	def := func(s, full, quick string) string {
		if s != "" {
			return s
		}
		if c.quick {
			return quick
		}
		return full
	}
	c.systems = splitList(def(systemsFlag, "kontiki,jetstream,jetstream-lazy,etcd,hraft", "kontiki,jetstream"))
	if systemsFlag == "" {
		// A -tags nopeers build runs the default set without etcd and hraft.
		c.systems = slices.DeleteFunc(c.systems, func(name string) bool { _, err := systemByName(name); return err != nil })
	}
	c.workloads = splitList(def(workloadsFlag, "seq,c8,c64,c256,mix64", "seq,c64"))
	for _, v := range splitList(def(valuesFlag, "128,1024,4096", "128")) {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fatalf("bad value size %q", v)
		}
		c.values = append(c.values, n)
	}
	if c.reps == 0 {
		c.reps = 3
		if c.quick || c.memory {
			c.reps = 1
		}
	}
	for _, s := range c.systems {
		if _, err := systemByName(s); err != nil {
			fatalf("%v", err)
		}
	}
	if c.logDir == "" {
		c.logDir = strings.TrimSuffix(c.out, ".json") + ".logs"
	}
	if err := run(&c); err != nil {
		fatalf("%v", err)
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

func run(c *config) error {
	var cells []cell
	if c.memory {
		cl, _ := newCell("c256", 128)
		cells = []cell{cl}
	} else {
		for _, v := range c.values {
			for _, w := range c.workloads {
				cl, err := newCell(w, v)
				if err != nil {
					return err
				}
				cells = append(cells, cl)
			}
		}
	}
	root := c.dataDir
	if root == "" {
		var err error
		if root, err = os.MkdirTemp("", "kontiki-bench-"); err != nil {
			return err
		}
		if !c.keepData {
			defer os.RemoveAll(root)
		}
	} else if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	for _, d := range []string{c.logDir, c.profileDir} {
		if d != "" {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
	}
	rep := newReport(c, cells, root)
	started := time.Now()
	measure := c.measure
	if c.memory {
		measure = c.memDuration
	}
	for r := 1; r <= c.reps; r++ {
		if !c.noFloor && !c.memory {
			fmt.Fprintf(os.Stderr, "rep %d/%d: floor\n", r, c.reps)
			res, err := runChildProcess(c, root, childSpec{Mode: "floor", Rep: r, Floor: c.floorDuration})
			if err != nil {
				fmt.Fprintf(os.Stderr, "  floor: %v\n", err)
			}
			rep.add(res)
		}
		for _, s := range c.systems {
			fmt.Fprintf(os.Stderr, "rep %d/%d: %s\n", r, c.reps, s)
			spec := childSpec{Mode: "system", System: s, Rep: r, Cells: cells, Warm: c.warm, Measure: measure,
				Keys: c.keys, OpTimeout: c.opTimeout, RSSSample: c.memory, LogLevel: c.logLevel}
			if c.profileDir != "" {
				spec.ProfileDir, spec.ProfileCell = c.profileDir, c.profileCell
			}
			res, err := runChildProcess(c, root, spec)
			if err != nil {
				fmt.Fprintf(os.Stderr, "  %s: %v\n", s, err)
			}
			rep.add(res)
		}
	}
	rep.DurationSec = time.Since(started).Seconds()
	rep.summarize()
	text := rep.text()
	fmt.Print(text)
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.out, b, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s (logs in %s)\n", c.out, c.logDir)
	if c.md != "" {
		if err := os.WriteFile(c.md, []byte(rep.markdown()), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s\n", c.md)
	}
	return nil
}

// runChildProcess runs spec in a new process of this binary, with a
// watchdog, and returns its result (an error result when it failed).
func runChildProcess(c *config, root string, spec childSpec) (childResult, error) {
	name := spec.Mode
	if spec.System != "" {
		name = spec.System
	}
	name = fmt.Sprintf("%s-rep%d", name, spec.Rep)
	if c.memory {
		name += "-memory"
	}
	spec.Dir = filepath.Join(root, name)
	spec.Out = filepath.Join(root, name+".result.json")
	failed := func(err error) (childResult, error) {
		return childResult{Mode: spec.Mode, System: spec.System, Rep: spec.Rep, Err: err.Error()}, err
	}
	if err := os.MkdirAll(spec.Dir, 0o755); err != nil {
		return failed(err)
	}
	if !c.keepData {
		defer os.RemoveAll(spec.Dir)
	}
	specPath := filepath.Join(root, name+".spec.json")
	b, _ := json.Marshal(spec)
	if err := os.WriteFile(specPath, b, 0o644); err != nil {
		return failed(err)
	}
	exe, err := os.Executable()
	if err != nil {
		return failed(err)
	}
	logf, err := os.Create(filepath.Join(c.logDir, name+".log"))
	if err != nil {
		return failed(err)
	}
	defer logf.Close()
	cmd := exec.Command(exe, "-child", specPath)
	cmd.Stdout = os.Stderr
	cmd.Stderr = logf
	var waited time.Duration
	var busy float64
	if c.quietWait > 0 {
		waited, busy = waitQuiet(c.quietWait, c.quietCores)
		if busy >= c.quietCores {
			fmt.Fprintf(os.Stderr, "  machine still busy after %.0fs (%s used by other processes); running anyway\n", waited.Seconds(), describeBusy(busy))
		}
	}
	if err := cmd.Start(); err != nil {
		return failed(err)
	}
	budget := 3*time.Minute + time.Duration(len(spec.Cells))*(spec.Warm+spec.Measure+spec.OpTimeout+45*time.Second) + 10*spec.Floor
	timer := time.AfterFunc(budget, func() { cmd.Process.Kill() })
	waitErr := cmd.Wait()
	timer.Stop()
	out, err := os.ReadFile(spec.Out)
	if err != nil {
		if waitErr != nil {
			return failed(fmt.Errorf("child %s: %w (see %s)", name, waitErr, logf.Name()))
		}
		return failed(err)
	}
	var res childResult
	if err := json.Unmarshal(out, &res); err != nil {
		return failed(err)
	}
	res.QuietWaitSec, res.BusyBefore = waited.Seconds(), busy
	if res.Err != "" {
		return res, fmt.Errorf("%s: %s", name, res.Err)
	}
	return res, nil
}
