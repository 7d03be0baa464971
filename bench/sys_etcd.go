//go:build !nopeers

// etcd: three embedded etcd servers on loopback ports, clientv3. Left out of
// a build with -tags nopeers (the CI quick mode needs no etcd).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func init() {
	systems = append(systems, systemSpec{
		name: "etcd", label: "etcd v3.6.6 (embed)", durable: true,
		notes: "3 embedded etcd servers (go.etcd.io/etcd/server/v3/embed) on loopback, defaults (WAL fsync on, tick 100ms, election 1s), quota 8 GiB; client: clientv3 with all three endpoints (not leader-aware; followers forward); get = linearizable (default)",
		start: startEtcd,
	})
}

type etcdStore struct {
	servers []*embed.Etcd
	cli     *clientv3.Client
}

func startEtcd(ctx context.Context, dir string, logw io.Writer) (store, error) {
	ports, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	u := func(p int) url.URL { return url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", p)} }
	var initial []string
	for i := range 3 {
		pu := u(ports[2*i])
		initial = append(initial, fmt.Sprintf("m%d=%s", i+1, pu.String()))
	}
	zl := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(logw), zapcore.WarnLevel))
	e := &etcdStore{}
	var endpoints []string
	for i := range 3 {
		cfg := embed.NewConfig()
		cfg.Name = fmt.Sprintf("m%d", i+1)
		cfg.Dir = filepath.Join(dir, cfg.Name)
		pu, cu := u(ports[2*i]), u(ports[2*i+1])
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
		cfg.InitialCluster = strings.Join(initial, ",")
		cfg.InitialClusterToken = "bench"
		cfg.ClusterState = embed.ClusterStateFlagNew
		cfg.QuotaBackendBytes = 8 << 30
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zl.With(zap.String("member", cfg.Name)))
		srv, err := embed.StartEtcd(cfg)
		if err != nil {
			e.close(ctx)
			return nil, fmt.Errorf("start etcd %s: %w", cfg.Name, err)
		}
		e.servers = append(e.servers, srv)
		endpoints = append(endpoints, cu.String())
	}
	for _, srv := range e.servers {
		select {
		case <-srv.Server.ReadyNotify():
		case err := <-srv.Err():
			e.close(ctx)
			return nil, fmt.Errorf("etcd: %w", err)
		case <-time.After(30 * time.Second):
			e.close(ctx)
			return nil, errors.New("etcd: not ready within 30s")
		}
	}
	e.cli, err = clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		e.close(ctx)
		return nil, err
	}
	return e, nil
}

func (e *etcdStore) put(ctx context.Context, key string, value []byte) error {
	_, err := e.cli.Put(ctx, key, string(value))
	return err
}

func (e *etcdStore) get(ctx context.Context, key string) error {
	_, err := e.cli.Get(ctx, key)
	return err
}

// syncs: WAL fdatasyncs plus two fdatasyncs (pages, meta) per bbolt
// backend commit, from etcd's own histograms (one registry for the three
// members of this process).
func (e *etcdStore) syncs() (uint64, bool) {
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		return 0, false
	}
	var wal, commits uint64
	found := false
	for _, mf := range mfs {
		switch mf.GetName() {
		case "etcd_disk_wal_fsync_duration_seconds":
			for _, m := range mf.GetMetric() {
				wal += m.GetHistogram().GetSampleCount()
			}
			found = true
		case "etcd_disk_backend_commit_duration_seconds":
			for _, m := range mf.GetMetric() {
				commits += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return wal + 2*commits, found
}

func (e *etcdStore) info(ctx context.Context) string {
	var parts []string
	for _, srv := range e.servers {
		s := srv.Server
		parts = append(parts, fmt.Sprintf("%s: lead=%x term=%d commit=%d", srv.Config().Name, s.Leader(), s.Term(), s.CommittedIndex()))
	}
	return strings.Join(parts, "; ")
}

func (e *etcdStore) close(ctx context.Context) error {
	if e.cli != nil {
		e.cli.Close()
	}
	for _, srv := range e.servers {
		srv.Close()
	}
	return nil
}
