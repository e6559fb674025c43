package ollama

import (
	"context"
	"fmt"

	"github.com/ollama/ollama/api"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
)

var _ catalog.Embedder = (*Client)(nil)

// Embed implements catalog.Embedder: the texts go to /api/embed in batches
// of Config.EmbedBatch, each batch a call of its own (deadline, breaker).
// Texts longer than the model's context are truncated by Ollama.
func (c *Client) Embed(ctx context.Context, texts []string) (catalog.Embeddings, error) {
	out := catalog.Embeddings{Model: c.cfg.EmbedModel, Vectors: make([][]float32, 0, len(texts))}
	for start := 0; start < len(texts); start += c.cfg.EmbedBatch {
		batch := texts[start:min(start+c.cfg.EmbedBatch, len(texts))]
		var resp *api.EmbedResponse
		err := c.call(ctx, OpEmbed, c.cfg.EmbedModel, c.embedCB, c.cfg.EmbedTimeout, func(ctx context.Context) error {
			truncate := true
			r, err := c.api.Embed(ctx, &api.EmbedRequest{Model: c.cfg.EmbedModel, Input: batch, Truncate: &truncate})
			if err != nil {
				return err
			}
			if len(r.Embeddings) != len(batch) {
				return fmt.Errorf("%d embeddings for %d texts", len(r.Embeddings), len(batch))
			}
			for _, v := range r.Embeddings {
				if len(v) == 0 || len(v) != len(r.Embeddings[0]) {
					return fmt.Errorf("embeddings of unequal or zero length")
				}
			}
			resp = r
			return nil
		})
		if err != nil {
			return catalog.Embeddings{}, err
		}
		if d := out.Dimension(); d != 0 && d != len(resp.Embeddings[0]) {
			return catalog.Embeddings{}, fmt.Errorf("%w: ollama embed: dimension changed from %d to %d between batches", failure.ErrUnavailable, d, len(resp.Embeddings[0]))
		}
		c.cfg.Stats.AddTokens(OpEmbed, c.cfg.EmbedModel, "prompt", resp.PromptEvalCount)
		out.Vectors = append(out.Vectors, resp.Embeddings...)
	}
	return out, nil
}
