"""Analyses of what a pretrained GAN knows, beside the benchmark proper.

- ``representations``: a generator's three embeddings of its own samples (discriminator features, latent,
  generator features) and a label per sample;
- ``separability``: how class-separable each embedding is (k-NN accuracy, silhouette; full space and UMAP 2-D);
- ``umap_figures``: the poster's Fig. 2 (Yang et al., NeurIPS 2022) with those numbers, written to a folder.
"""
