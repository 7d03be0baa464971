// The client service: a nats.go/micro service named "kontiki" per member.
// Every KV endpoint is served twice: on the shared subject in a queue group
// (any member answers) and on the member's own subject (forwarding,
// leader-aware clients, per-member reads). Handlers never block the NATS
// callback: each request is served on its own goroutine.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/kontiki-raft/kontiki/actors"
	"github.com/kontiki-raft/kontiki/client"
	"github.com/kontiki-raft/kontiki/kv"
)

// ValueOverhead is the room kept below max_payload for the key, the headers
// and the raft envelope: an accepted entry always fits in one peer message.
const ValueOverhead = 64 << 10

// headerForwarded marks a request a follower re-published to the leader; a
// forwarded request is never forwarded again.
const headerForwarded = "Kontiki-Forwarded"

// ServiceConfig wires a Service.
type ServiceConfig struct {
	ID      uint64
	Cluster string
	NC      *nats.Conn
	Node    *actors.Node
	// Store is the KV state machine; nil serves only the propose endpoint.
	Store *kv.Store
	// MaxValueBytes caps values (default and maximum: max_payload - 64 KiB).
	MaxValueBytes int
	// RequestTimeout bounds how long a member works on one request.
	RequestTimeout time.Duration
	Logger         *slog.Logger
	Version        string
}

type Service struct {
	cfg      ServiceConfig
	subj     subjects
	svc      micro.Service
	maxValue int
	stopping atomic.Bool
	watches  *watchRegistry

	statsMu sync.Mutex
	stats   map[string]any
	statsAt time.Time
}

// StartService registers the endpoints.
func StartService(cfg ServiceConfig) (*Service, error) {
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	if cfg.Version == "" {
		cfg.Version = "0.1.0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, subj: subjects{cfg.Cluster}}
	s.maxValue = int(cfg.NC.MaxPayload()) - ValueOverhead
	if cfg.MaxValueBytes > 0 && cfg.MaxValueBytes < s.maxValue {
		s.maxValue = cfg.MaxValueBytes
	}
	s.watches = newWatchRegistry()
	svc, err := micro.AddService(cfg.NC, micro.Config{
		Name:         "kontiki",
		Version:      cfg.Version,
		Description:  "Kontiki replicated key-value store (Raft)",
		Metadata:     map[string]string{"id": strconv.FormatUint(cfg.ID, 10), "cluster": cfg.Cluster},
		QueueGroup:   "kontiki",
		StatsHandler: func(*micro.Endpoint) any { return s.liveStats() },
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: add micro service: %w", err)
	}
	s.svc = svc
	if err := s.addEndpoints(); err != nil {
		_ = svc.Stop()
		return nil, err
	}
	return s, nil
}

type endpoint struct {
	name    string
	subject string
	handler func(req micro.Request, key string)
	// keyPrefix: the key is the rest of the subject after it.
	keyPrefix string
	noQueue   bool
	// inline: the handler never waits (it proposes and returns), so it runs
	// on the subscription's goroutine instead of one of its own.
	inline bool
}

func (s *Service) addEndpoints() error {
	var eps []endpoint
	if s.cfg.Store != nil {
		for _, base := range []struct{ name, prefix string }{{"", s.subj.kv()}, {"member-", s.subj.member(s.cfg.ID) + ".kv"}} {
			eps = append(eps,
				endpoint{name: base.name + "put", subject: base.prefix + ".put.>", keyPrefix: base.prefix + ".put.", handler: s.put, inline: true},
				endpoint{name: base.name + "get", subject: base.prefix + ".get.>", keyPrefix: base.prefix + ".get.", handler: s.get},
				endpoint{name: base.name + "del", subject: base.prefix + ".del.>", keyPrefix: base.prefix + ".del.", handler: s.del, inline: true},
				endpoint{name: base.name + "list", subject: base.prefix + ".list", handler: s.list},
				endpoint{name: base.name + "watch", subject: base.prefix + ".watch", handler: s.watch},
				endpoint{name: base.name + "batch", subject: base.prefix + ".batch", handler: s.batch, inline: true},
			)
		}
		eps = append(eps,
			endpoint{name: "snapshot", subject: s.subj.admin("snapshot"), handler: s.snapshotSave},
			endpoint{name: "member-snapshot", subject: s.subj.member(s.cfg.ID) + ".admin.snapshot", handler: s.snapshotSave},
		)
	}
	eps = append(eps,
		endpoint{name: "propose", subject: s.subj.propose(), handler: s.proposeRaw, inline: true},
		endpoint{name: "member-propose", subject: s.subj.member(s.cfg.ID) + ".propose", handler: s.proposeRaw, inline: true},
		endpoint{name: "status", subject: s.subj.admin("status"), handler: s.status, noQueue: true},
		endpoint{name: "member-status", subject: s.subj.member(s.cfg.ID) + ".admin.status", handler: s.status},
	)
	for _, ep := range eps {
		ep := ep
		opts := []micro.EndpointOpt{micro.WithEndpointSubject(ep.subject)}
		if ep.noQueue {
			opts = append(opts, micro.WithEndpointQueueGroupDisabled())
		}
		h := micro.HandlerFunc(func(req micro.Request) {
			if s.stopping.Load() {
				s.respondError(req, newError(503, "member stopping"))
				return
			}
			if e := checkConsistencyHeader(req.Headers()); e != nil {
				s.respondError(req, e)
				return
			}
			key := ""
			if ep.keyPrefix != "" {
				key = strings.TrimPrefix(req.Subject(), ep.keyPrefix)
			}
			if ep.inline {
				ep.handler(req, key)
				return
			}
			go ep.handler(req, key)
		})
		if err := s.svc.AddEndpoint(ep.name, h, opts...); err != nil {
			return fmt.Errorf("cluster: endpoint %s: %w", ep.name, err)
		}
	}
	return nil
}

// Stop stops taking requests (answering 503 meanwhile) and ends watches.
func (s *Service) Stop() {
	s.stopping.Store(true)
	s.watches.closeAll()
	_ = s.svc.Stop()
}

func (s *Service) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
}

// hasLeader reports whether this member knows a leader now.
func (s *Service) hasLeader() bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := s.cfg.Node.Status(ctx)
	return err == nil && st.Lead != 0
}

func (s *Service) memberStatus(ctx context.Context) (*client.MemberStatus, error) {
	st, err := s.cfg.Node.Status(ctx)
	if err != nil {
		return nil, err
	}
	ms := &client.MemberStatus{
		ID: st.ID, Role: st.Role.String(), Term: st.Term, Leader: st.Lead,
		Commit: st.Commit, Applied: st.AppliedIndex, LastIndex: st.LastIndex, Durable: st.Durable,
		SnapshotsInstalled: st.SnapshotsInstalled,
	}
	if len(st.Progress) > 0 {
		ms.Progress = map[uint64]client.PeerProgress{}
		for id, p := range st.Progress {
			ms.Progress[id] = client.PeerProgress{Match: p.Match, Next: p.Next, State: p.State}
		}
	}
	return ms, nil
}

func (s *Service) status(req micro.Request, _ string) {
	ctx, cancel := s.ctx()
	defer cancel()
	ms, err := s.memberStatus(ctx)
	if err != nil {
		s.respondError(req, classify(err, 0))
		return
	}
	s.respondJSON(req, ms, nil)
}

// liveStats is what `nats micro stats` shows: micro's metadata is fixed at
// start, so the live role, term and leader come through here. micro asks
// once per endpoint; one status serves a whole stats request.
func (s *Service) liveStats() any {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	if time.Since(s.statsAt) < time.Second && s.stats != nil {
		return s.stats
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	ms, err := s.memberStatus(ctx)
	if err != nil {
		return map[string]any{"id": s.cfg.ID, "error": err.Error()}
	}
	s.stats = map[string]any{"id": ms.ID, "role": ms.Role, "term": ms.Term, "leader": ms.Leader, "commit": ms.Commit, "applied": ms.Applied}
	s.statsAt = time.Now()
	return s.stats
}

// forward sends a request to the leader's own subject and relays the
// leader's answer (headers included) to the client. A proxy rather than a
// re-publish with the client's inbox: if the leader just died nobody would
// answer a re-publish, and the client would wait out its whole timeout; here
// it gets 503 (no responders: not proposed, retry freely) or 504 (no answer:
// outcome unknown, retry with the same request id). It reports false when
// the request may not be forwarded (already forwarded once, or no leader).
func (s *Service) forward(req micro.Request, leader uint64, memberSuffix string) bool {
	if leader == 0 || leader == s.cfg.ID || req.Headers().Get(headerForwarded) != "" || req.Reply() == "" {
		return false
	}
	h := nats.Header{}
	for k, v := range req.Headers() {
		h[k] = v
	}
	h.Set(headerForwarded, strconv.FormatUint(s.cfg.ID, 10))
	msg := &nats.Msg{Subject: s.subj.member(leader) + "." + memberSuffix, Header: h, Data: req.Data()}
	resp, err := s.cfg.NC.RequestMsg(msg, s.cfg.RequestTimeout)
	switch {
	case err == nil:
		s.respond(req, resp.Data, micro.Headers(resp.Header))
	case errors.Is(err, nats.ErrNoResponders):
		s.respondError(req, newError(503, "leader "+strconv.FormatUint(leader, 10)+" is not reachable; retry"))
	default:
		s.respondError(req, newError(504, "no answer from leader "+strconv.FormatUint(leader, 10)+": outcome unknown; retry with the same request id"))
	}
	return true
}

func (s *Service) respondJSON(req micro.Request, v any, headers micro.Headers) {
	data, err := json.Marshal(v)
	if err != nil {
		s.respondError(req, newError(500, err.Error()))
		return
	}
	s.respond(req, data, headers)
}
