// NATS JetStream KV: three embedded nats-servers clustered by routes with
// JetStream on file storage; a KV bucket with three replicas.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const jsBucket = "bench"

type jetStreamStore struct {
	servers []*server.Server
	nc      *nats.Conn
	js      jetstream.JetStream
	kv      jetstream.KeyValue
}

func startJetStream(ctx context.Context, dir string, logw io.Writer, syncAlways bool) (store, error) {
	servers, err := startNATSCluster(natsClusterOpts{name: "js-bench", dir: dir, jetStream: true, syncAlways: syncAlways})
	if err != nil {
		return nil, err
	}
	j := &jetStreamStore{servers: servers}
	j.nc, err = nats.Connect(servers[0].ClientURL(), nats.Name("js-bench-client"))
	if err != nil {
		j.close(ctx)
		return nil, err
	}
	j.js, err = jetstream.New(j.nc)
	if err != nil {
		j.close(ctx)
		return nil, err
	}
	// The meta leader is elected after the routes are up: retry the
	// bucket's creation until JetStream answers.
	deadline := time.Now().Add(30 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = j.js.CreateKeyValue(cctx, jetstream.KeyValueConfig{Bucket: jsBucket, Replicas: 3, Storage: jetstream.FileStorage, History: 1})
		cancel()
		if err == nil || errors.Is(err, jetstream.ErrBucketExists) {
			break
		}
		if time.Now().After(deadline) {
			j.close(ctx)
			return nil, fmt.Errorf("create KV bucket: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Reads from the stream leader (STREAM.MSG.GET), not direct gets that
	// any replica answers: the closest JetStream has to a linearizable get.
	s, err := j.js.Stream(ctx, "KV_"+jsBucket)
	if err != nil {
		j.close(ctx)
		return nil, err
	}
	cfg := s.CachedInfo().Config
	cfg.AllowDirect = false
	if _, err := j.js.UpdateStream(ctx, cfg); err != nil {
		j.close(ctx)
		return nil, fmt.Errorf("turn direct get off: %w", err)
	}
	if j.kv, err = j.js.KeyValue(ctx, jsBucket); err != nil {
		j.close(ctx)
		return nil, err
	}
	return j, nil
}

func (j *jetStreamStore) put(ctx context.Context, key string, value []byte) error {
	_, err := j.kv.Put(ctx, key, value)
	return err
}

func (j *jetStreamStore) get(ctx context.Context, key string) error {
	_, err := j.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return err
}

func (j *jetStreamStore) syncs() (uint64, bool) { return 0, false }

func (j *jetStreamStore) info(ctx context.Context) string {
	s, err := j.js.Stream(ctx, "KV_"+jsBucket)
	if err != nil {
		return "stream info: " + err.Error()
	}
	ci := s.CachedInfo().Cluster
	if ci == nil {
		return "no cluster info"
	}
	var replicas []string
	for _, r := range ci.Replicas {
		replicas = append(replicas, fmt.Sprintf("%s current=%v lag=%d", r.Name, r.Current, r.Lag))
	}
	return fmt.Sprintf("leader=%s replicas=[%s] msgs=%d", ci.Leader, strings.Join(replicas, "; "), s.CachedInfo().State.Msgs)
}

func (j *jetStreamStore) close(ctx context.Context) error {
	if j.nc != nil {
		j.nc.Close()
	}
	stopNATSCluster(j.servers)
	return nil
}
