// This file owns "kontiki snapshot save FILE": a consistent snapshot of the
// store streamed from a member into FILE (written to FILE.part, fsynced,
// renamed), with a progress bar when stderr is a terminal.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

var snapshotCommand = &command{
	name: "snapshot", args: "save FILE", minArgs: 2, maxArgs: 2,
	summary: "save a consistent snapshot of the store to FILE",
	detail: `Stream a snapshot of the whole store from a member into FILE and print its
size and sha256. The snapshot holds every write acknowledged before the
command started. 'member restore FILE' seeds a new cluster from it.`,
	setup: func(fs *flag.FlagSet) action {
		return func(ctx context.Context, e *cliEnv, args []string) error {
			if args[0] != "save" {
				return usagef("unknown snapshot command %q (want: snapshot save FILE)", args[0])
			}
			path := args[1]
			c, done, err := e.dial()
			defer done()
			if err != nil {
				return err
			}
			part := path + ".part"
			f, err := os.Create(part)
			if err != nil {
				return err
			}
			defer func() { _ = os.Remove(part) }()
			info, err := c.SnapshotSave(ctx, f, progressBar(e.stderr))
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = os.Rename(part, path)
			}
			if err == nil {
				err = syncDir(filepath.Dir(path))
			}
			if err != nil {
				return err
			}
			if e.common.json() {
				return writeJSON(e.stdout, struct {
					File   string `json:"file"`
					Size   int64  `json:"size"`
					Sha256 string `json:"sha256"`
				}{path, info.Size, info.Sha256})
			}
			_, err = fmt.Fprintf(e.stdout, "saved %s: %d bytes, sha256 %s\n", path, info.Size, info.Sha256)
			return err
		}
	},
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// progressBar draws on w when it is a terminal; otherwise it draws nothing.
func progressBar(w io.Writer) func(done, total int64) {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return func(done, total int64) {
		const width = 30
		filled := width
		if total > 0 {
			filled = int(done * width / total)
		}
		bar := make([]byte, width)
		for i := range bar {
			bar[i] = ' '
			if i < filled {
				bar[i] = '#'
			}
		}
		fmt.Fprintf(f, "\r[%s] %d/%d bytes", bar, done, total)
		if done >= total {
			fmt.Fprintln(f)
		}
	}
}
