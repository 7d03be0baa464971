// The README's `nats` commands, replayed through nats.go.
package process

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kontiki-raft/kontiki/client"
)

// readmeCommand is one `nats …` line of the README's shell blocks.
type readmeCommand struct {
	line   int
	text   string
	args   []string // words after "nats"
	expect string   // what the comment says follows "→", "" when nothing
	note   string   // the rest of the comment
}

// The `nats` commands the README shows work against a running cluster: the
// same subject, body and headers sent through nats.go get replies of the
// documented shape, in the README's order.
func TestReadmeNatsCommands(t *testing.T) {
	cmds, err := readmeNatsCommands()
	if err != nil {
		t.Fatal(err)
	}
	if len(cmds) == 0 {
		t.Fatal("README.md shows no nats command")
	}
	c := startCluster(t, options{})
	values := map[string]string{} // key → value last put, to check gets
	for _, cmd := range cmds {
		t.Logf("README.md:%d: %s", cmd.line, cmd.text)
		switch {
		case len(cmd.args) >= 1 && cmd.args[0] == "req":
			checkReadmeRequest(t, c, cmd, values)
		case len(cmd.args) == 2 && cmd.args[0] == "micro" && cmd.args[1] == "ls":
			checkMicroList(t, c, cmd)
		default:
			c.errorf("README.md:%d: no translation of %q to nats.go in this test; extend it", cmd.line, cmd.text)
		}
	}
}

// readmeNatsCommands extracts the `nats …` lines of the README's code
// blocks.
func readmeNatsCommands() ([]readmeCommand, error) {
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "README.md")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []readmeCommand
	inCode := false
	for i, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
			continue
		}
		if !inCode || !strings.HasPrefix(line, "nats ") {
			continue
		}
		words, comment, err := shellWords(line)
		if err != nil {
			return nil, fmt.Errorf("README.md:%d: %v", i+1, err)
		}
		cmd := readmeCommand{line: i + 1, text: line, args: words[1:]}
		comment = strings.TrimSpace(comment)
		if rest, ok := strings.CutPrefix(comment, "→"); ok {
			rest = strings.TrimSpace(rest)
			cmd.expect, cmd.note = rest, ""
			if j := strings.Index(rest, "("); j >= 0 {
				cmd.expect, cmd.note = strings.TrimSpace(rest[:j]), rest[j:]
			}
		} else {
			cmd.note = comment
		}
		out = append(out, cmd)
	}
	return out, nil
}

// shellWords splits a shell command line into words (single and double
// quotes, backslash escapes in double quotes) and returns the comment that
// follows an unquoted '#'.
func shellWords(line string) (words []string, comment string, err error) {
	var w strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == ' ' || ch == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case ch == '#' && !inWord:
			return words, line[i+1:], nil
		case ch == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, "", fmt.Errorf("unterminated quote")
			}
			w.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) {
					i++
				}
				w.WriteByte(line[i])
			}
			if i >= len(line) {
				return nil, "", fmt.Errorf("unterminated quote")
			}
			inWord = true
		default:
			w.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, "", nil
}

// checkReadmeRequest sends `nats req [-H k:v]… SUBJECT BODY` and checks the
// reply against the comment's shape.
func checkReadmeRequest(t *testing.T, c *procCluster, cmd readmeCommand, values map[string]string) {
	t.Helper()
	msg := &nats.Msg{Header: nats.Header{}}
	var pos []string
	for i := 1; i < len(cmd.args); i++ {
		a := cmd.args[i]
		switch {
		case a == "-H" || a == "--header":
			if i+1 >= len(cmd.args) {
				c.fatalf("README.md:%d: %s without a value", cmd.line, a)
			}
			i++
			k, v, ok := strings.Cut(cmd.args[i], ":")
			if !ok {
				c.fatalf("README.md:%d: header %q is not key:value", cmd.line, cmd.args[i])
			}
			msg.Header.Add(k, v)
		case strings.HasPrefix(a, "-"):
			c.fatalf("README.md:%d: flag %s has no translation in this test; extend it", cmd.line, a)
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) != 2 {
		c.fatalf("README.md:%d: want SUBJECT BODY, got %q", cmd.line, pos)
	}
	msg.Subject, msg.Data = pos[0], []byte(pos[1])
	reply, err := c.nc.RequestMsg(msg, 5*time.Second)
	if err != nil {
		c.fatalf("README.md:%d: %s: %v", cmd.line, cmd.text, err)
	}
	code := reply.Header.Get(client.HeaderServiceErrorCode)
	base := "kontiki." + clusterName + ".kv."
	op, key, _ := strings.Cut(strings.TrimPrefix(msg.Subject, base), ".")
	t.Logf("  → %q headers %v", reply.Data, reply.Header)
	switch {
	case cmd.expect == "":
		// No documented reply: a reply of the contract — a value, or a
		// service error (e.g. 404 once the README deleted the key); a stale
		// read carries Kontiki-Applied either way.
		if code != "" && code != "404" {
			c.errorf("README.md:%d: error %s %s", cmd.line, code, reply.Header.Get(client.HeaderServiceError))
		}
		if msg.Header.Get(client.HeaderConsistency) == string(client.Stale) && reply.Header.Get(client.HeaderApplied) == "" {
			c.errorf("README.md:%d: a stale read without %s", cmd.line, client.HeaderApplied)
		}
		if code == "404" {
			t.Logf("README.md:%d: note: answers 404 (not found) when run in the README's order, after the del", cmd.line)
		}
	case code != "":
		c.errorf("README.md:%d: documented %s, got error %s %s", cmd.line, cmd.expect, code, reply.Header.Get(client.HeaderServiceError))
	case strings.HasPrefix(cmd.expect, "{"):
		if err := matchJSONShape(cmd.expect, reply.Data); err != nil {
			c.errorf("README.md:%d: reply %s does not have the documented shape %s: %v", cmd.line, reply.Data, cmd.expect, err)
		}
	default:
		if string(reply.Data) != cmd.expect {
			c.errorf("README.md:%d: reply %q, documented %q", cmd.line, reply.Data, cmd.expect)
		}
	}
	for _, h := range headersNamed(cmd.note) {
		if reply.Header.Get(h) == "" {
			c.errorf("README.md:%d: documented header %s missing from the reply", cmd.line, h)
		}
	}
	switch op {
	case "put":
		values[key] = string(msg.Data)
	case "get":
		if want, ok := values[key]; ok && code == "" && string(reply.Data) != want {
			c.errorf("README.md:%d: get %s = %q, the README put %q", cmd.line, key, reply.Data, want)
		}
	case "del":
		delete(values, key)
	}
}

// headersNamed returns the Kontiki-* header names a comment mentions.
func headersNamed(note string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(note, func(r rune) bool { return r == ' ' || r == '(' || r == ')' || r == ',' }) {
		if strings.HasPrefix(w, "Kontiki-") {
			out = append(out, w)
		}
	}
	return out
}

// matchJSONShape checks that data is a JSON object with exactly the keys of
// the documented shape, each of the same JSON kind; N stands for a positive
// number and [...] for an array.
func matchJSONShape(shape string, data []byte) error {
	tmpl := strings.ReplaceAll(strings.ReplaceAll(shape, "[...]", "[]"), ":N", ":1")
	var want, got map[string]any
	if err := json.Unmarshal([]byte(tmpl), &want); err != nil {
		return fmt.Errorf("the README's shape does not parse as JSON: %v", err)
	}
	if err := json.Unmarshal(data, &got); err != nil {
		return err
	}
	for k, wv := range want {
		gv, ok := got[k]
		if !ok {
			return fmt.Errorf("no %q", k)
		}
		if fmt.Sprintf("%T", wv) != fmt.Sprintf("%T", gv) {
			return fmt.Errorf("%q is %T, documented %T", k, gv, wv)
		}
		if n, ok := gv.(float64); ok && n <= 0 {
			return fmt.Errorf("%q is %v, want a positive number", k, n)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			return fmt.Errorf("undocumented key %q", k)
		}
	}
	return nil
}

// checkMicroList does what `nats micro ls` does: ask $SRV.INFO.kontiki and
// count the instances that answer.
func checkMicroList(t *testing.T, c *procCluster, cmd readmeCommand) {
	t.Helper()
	inbox := c.nc.NewInbox()
	sub, err := c.nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := c.nc.PublishRequest("$SRV.INFO.kontiki", inbox, nil); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	members := map[string]bool{}
	for {
		m, err := sub.NextMsg(500 * time.Millisecond)
		if err != nil {
			break
		}
		var info struct {
			Name     string            `json:"name"`
			ID       string            `json:"id"`
			Metadata map[string]string `json:"metadata"`
		}
		if err := json.Unmarshal(m.Data, &info); err != nil || info.Name != "kontiki" {
			c.errorf("README.md:%d: bad service info %s", cmd.line, m.Data)
			continue
		}
		ids[info.ID] = true
		members[info.Metadata["id"]] = true
	}
	t.Logf("  → %d instances of service kontiki, members %v", len(ids), sortedKeys(members))
	if len(ids) != len(c.peers) || len(members) != len(c.peers) {
		c.errorf("README.md:%d: %d instances for %d members, documented one per member", cmd.line, len(ids), len(c.peers))
	}
}
