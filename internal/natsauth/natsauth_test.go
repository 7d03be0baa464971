package natsauth

import (
	"testing"

	"github.com/nats-io/nats.go"
)

// The files behind creds and TLS are read when their options are applied,
// and the member's and the CLI's tests cover those; here: what is set.
func TestOptionsSetOnlyWhatIsGiven(t *testing.T) {
	if n := len(Flags{}.Options()); n != 0 {
		t.Errorf("empty flags give %d options, want 0", n)
	}
	all := Flags{Creds: "x.creds", User: "u", Password: "p", TLSCA: "ca.pem", TLSCert: "c.pem", TLSKey: "k.pem"}
	if n := len(all.Options()); n != 4 {
		t.Errorf("every flag set gives %d options, want 4 (creds, user, CA, client cert)", n)
	}
	o := nats.GetDefaultOptions()
	for _, opt := range (Flags{User: "u", Password: "p"}).Options() {
		if err := opt(&o); err != nil {
			t.Fatal(err)
		}
	}
	if o.User != "u" || o.Password != "p" {
		t.Errorf("user %q password %q, want u and p", o.User, o.Password)
	}
}
