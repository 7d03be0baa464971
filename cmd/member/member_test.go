package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/kontiki-raft/kontiki/actors"
)

// runOneMember runs `member` in this process with args plus free ports and
// a one-member cluster; it returns the member's NATS URL, HTTP address, its
// log output and a stop function that returns the exit code.
func runOneMember(t *testing.T, args ...string) (natsURL, httpAddr string, logs *syncBuffer, stop func() int) {
	t.Helper()
	ports := freePorts(t, 2)
	natsURL, httpAddr = "nats://"+addr(ports[0]), addr(ports[1])
	args = append([]string{"--id", "1", "--peers", "1", "--data-dir", t.TempDir(), "--nats-listen", addr(ports[0]),
		"--http-addr", httpAddr, "--tick", "20ms"}, args...)
	ctx, cancel := context.WithCancel(context.Background())
	logs = &syncBuffer{}
	exited := make(chan int, 1)
	go func() { exited <- runContext(ctx, &session{env: envOf(nil), stdout: logs, stderr: logs}, args) }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("member output:\n%s", logs.String())
		}
	})
	eventually(t, 15*time.Second, "ready", func() (bool, string) {
		select {
		case code := <-exited:
			exited <- code
			t.Fatalf("member exited %d", code)
		default:
		}
		return ready(httpAddr)
	})
	return natsURL, httpAddr, logs, func() int {
		cancel()
		select {
		case code := <-exited:
			exited <- code
			return code
		case <-time.After(stopTimeout):
			t.Fatalf("member still running %s after the stop", stopTimeout)
			return -1
		}
	}
}

func TestANonDurableLogIsAnnouncedAndReported(t *testing.T) {
	defer func(orig func(*Config, *slog.Logger) (actors.LogStore, error)) { openLog = orig }(openLog)
	openLog = func(*Config, *slog.Logger) (actors.LogStore, error) { return actors.NewMemoryLogStore(), nil }

	_, httpAddr, logs, stop := runOneMember(t)
	if line := lineContaining(logs.String(), "NOT durable"); !strings.Contains(line, "level=WARN") || !strings.Contains(line, "node=1") || !strings.Contains(line, "cluster=kontiki") {
		t.Errorf("no WARN line with node and cluster about the log: %q", line)
	}
	if d := statusOf(t, httpAddr); d.Durable {
		t.Errorf("/status says durable with an in-memory log")
	}
	if _, metrics := httpGet(httpAddr, "/metrics"); !strings.Contains(metrics, "kontiki_server_durable 0") {
		t.Errorf("/metrics lacks kontiki_server_durable 0")
	}
	if code := stop(); code != exitOK {
		t.Errorf("exit %d, want 0", code)
	}
}

func TestAnEmbeddedServerRequiresTheMembersUserAndPassword(t *testing.T) {
	url, _, _, stop := runOneMember(t, "--nats-user", "kontiki", "--nats-password", "s3cret")
	if nc, err := nats.Connect(url); err == nil {
		nc.Close()
		t.Errorf("anonymous connection accepted")
	}
	nc, err := nats.Connect(url, nats.UserInfo("kontiki", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	kvRequest(t, nc, "kontiki.kontiki.kv.put.k", "v")
	if code := stop(); code != exitOK {
		t.Errorf("exit %d, want 0", code)
	}
}

func TestAnEmbeddedServerSpeaksTLSWithTheMembersCertificate(t *testing.T) {
	ca, cert, key := writeTLSFiles(t)
	url, _, _, stop := runOneMember(t, "--tls-ca", ca, "--tls-cert", cert, "--tls-key", key)
	if nc, err := nats.Connect(url, nats.RootCAs(ca)); err == nil {
		nc.Close()
		t.Errorf("connection without a client certificate accepted")
	}
	nc, err := nats.Connect(url, nats.RootCAs(ca), nats.ClientCert(cert, key))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if !nc.TLSRequired() {
		t.Errorf("server does not require TLS")
	}
	kvRequest(t, nc, "kontiki.kontiki.kv.put.k", "v")
	if code := stop(); code != exitOK {
		t.Errorf("exit %d, want 0", code)
	}
}

func lineContaining(text, s string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// writeTLSFiles writes a CA and a certificate it signs for 127.0.0.1, good
// for both server and client authentication.
func writeTLSFiles(t *testing.T) (caFile, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kontiki test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kontiki member"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("member.pem", "CERTIFICATE", der), write("member-key.pem", "EC PRIVATE KEY", keyDER)
}

func TestAMemberWhoseNATSPortIsTakenExitsOneAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	expectExitOneAtOnce(t, "address already in use",
		"--id", "1", "--peers", "1", "--data-dir", t.TempDir(), "--nats-listen", ln.Addr().String(), "--http-addr", "127.0.0.1:0")
}

// expectExitOneAtOnce runs a member with args and expects it to give up at
// start: exit 1 within 5 s, its log saying why. The run is bounded, so a
// member that waits instead fails the test, not the test binary's timeout.
func expectExitOneAtOnce(t *testing.T, why string, args ...string) {
	t.Helper()
	var logs syncBuffer
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if code := runContext(ctx, &session{env: envOf(nil), stdout: &logs, stderr: &logs}, args); code != exitError {
		t.Errorf("exit %d, want 1", code)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s to give up", took)
	}
	if !strings.Contains(logs.String(), why) {
		t.Errorf("the error does not say why (%q):\n%s", why, logs.String())
	}
}

// A credentials file that can never work stops the member at start (exit 1,
// saying why) instead of leaving it retrying the connect forever.
func TestAMemberWithABadCredsFileExitsOneAtOnce(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.creds")
	if err := os.WriteFile(bad, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	expectExitOneAtOnce(t, "not a NATS credentials file",
		"--id", "1", "--peers", "1", "--data-dir", t.TempDir(), "--nats-url", "nats://127.0.0.1:1", "--nats-creds", bad, "--http-addr", "127.0.0.1:0")
}

func TestCheckCredsAcceptsAUserSeed(t *testing.T) {
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := user.Seed()
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(t.TempDir(), "good.creds")
	body := "-----BEGIN NATS USER JWT-----\neyJhbGciOiJlZDI1NTE5In0.e30.sig\n------END NATS USER JWT------\n\n" +
		"-----BEGIN USER NKEY SEED-----\n" + string(seed) + "\n------END USER NKEY SEED------\n"
	if err := os.WriteFile(good, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkCreds(good); err != nil {
		t.Fatalf("checkCreds(a user seed) = %v", err)
	}
	if err := checkCreds(good + ".missing"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("checkCreds(missing) = %v", err)
	}
}
