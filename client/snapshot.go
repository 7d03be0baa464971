// This file owns SnapshotSave: streaming a member's snapshot to the caller
// (kontiki.<c>.admin.snapshot), acknowledging each chunk so the member keeps
// a bounded window in flight, and checking the sha256 it announces.
package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
)

// SnapshotInfo describes a saved snapshot.
type SnapshotInfo struct {
	Size   int64
	Sha256 string // hex
}

// SnapshotSave streams a consistent snapshot of the store into w. progress,
// when set, is called after each chunk with the bytes so far and the total.
func (c *Client) SnapshotSave(ctx context.Context, w io.Writer, progress func(done, total int64)) (SnapshotInfo, error) {
	var info SnapshotInfo
	inbox := c.nc.NewInbox()
	sub, err := c.nc.SubscribeSync(inbox)
	if err != nil {
		return info, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := c.nc.PublishRequest(c.subj.any("admin.snapshot"), inbox, nil); err != nil {
		return info, err
	}
	h := sha256.New()
	for {
		wait, cancel := context.WithTimeout(ctx, c.opts.Timeout)
		msg, err := sub.NextMsgWithContext(wait)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return info, ctx.Err()
			}
			return info, fmt.Errorf("%w: snapshot stream stalled after %d bytes", ErrTimeout, info.Size)
		}
		if err := replyError(msg); err != nil {
			return info, err
		}
		if len(msg.Data) == 0 && msg.Header == nil {
			// A no-responders status: nobody serves the subject.
			return info, ErrNoResponders
		}
		if off, _ := strconv.ParseInt(msg.Header.Get("Kontiki-Offset"), 10, 64); off != info.Size {
			return info, fmt.Errorf("snapshot stream: chunk at offset %d after %d bytes", off, info.Size)
		}
		if _, err := w.Write(msg.Data); err != nil {
			return info, err
		}
		h.Write(msg.Data)
		info.Size += int64(len(msg.Data))
		if msg.Reply != "" {
			_ = msg.Respond(nil)
		}
		if progress != nil {
			total, _ := strconv.ParseInt(msg.Header.Get("Kontiki-Size"), 10, 64)
			progress(info.Size, total)
		}
		if msg.Header.Get("Kontiki-Snapshot") == "end" {
			info.Sha256 = hex.EncodeToString(h.Sum(nil))
			if want := msg.Header.Get("Kontiki-Sha256"); want != info.Sha256 {
				return info, fmt.Errorf("snapshot stream: sha256 %s, member announced %s", info.Sha256, want)
			}
			return info, nil
		}
	}
}
