package main

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

func TestEmbeddedServerOptions(t *testing.T) {
	_, c, err := parseCommand([]string{"--id", "2", "--peers", "1,2,3", "--nats-listen", "127.0.0.1:0",
		"--nats-cluster-listen", "0.0.0.0:6222", "--nats-routes", "nats-route://n1:6222,nats-route://n3:6222",
		"--nats-user", "kontiki", "--nats-password", "pw"}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	o, err := natsServerOptions(c, c.Cluster, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if o.Port != server.RANDOM_PORT || o.Host != "127.0.0.1" || !o.NoSigs || o.ServerName != "kontiki-kontiki-2" {
		t.Errorf("client side: port %d host %q nosigs %v name %q", o.Port, o.Host, o.NoSigs, o.ServerName)
	}
	if o.PingInterval != natsPingInterval || o.MaxPingsOut != natsMaxPingsOut ||
		o.Cluster.PingInterval != natsPingInterval || o.Cluster.MaxPingsOut != natsMaxPingsOut {
		t.Errorf("pings: client %s×%d, routes %s×%d; want a short interval so a frozen member is dropped in seconds",
			o.PingInterval, o.MaxPingsOut, o.Cluster.PingInterval, o.Cluster.MaxPingsOut)
	}
	if o.Username != "kontiki" || o.Password != "pw" || o.Cluster.Username != "kontiki" || o.Cluster.Password != "pw" {
		t.Errorf("auth: clients %q/%q, routes %q/%q", o.Username, o.Password, o.Cluster.Username, o.Cluster.Password)
	}
	if o.Cluster.Port != 6222 || o.Cluster.Host != "0.0.0.0" || len(o.Routes) != 2 {
		t.Fatalf("cluster: %s:%d routes %v", o.Cluster.Host, o.Cluster.Port, o.Routes)
	}
	for _, r := range o.Routes {
		if pw, _ := r.User.Password(); r.User.Username() != "kontiki" || pw != "pw" {
			t.Errorf("route %s does not carry the user", r.Redacted())
		}
	}
	if c.NATSRoutes[0].User != nil {
		t.Errorf("the Config's routes were changed")
	}
}
