"""How good is a generator? Measures of a generator's images against the real data set.

  frechet.py              the Fréchet distance of generated and real images in a network's features: the FID
                          (Heusel et al., 2017) with the Inception below; ``real_image_batches`` reads a suite
                          data set for it
  inception.py            torch-fidelity's Inception-v3 (the TensorFlow FID network), loaded offline
  reference_classifier.py the suite's small classifier of an in-memory data set (Fashion-MNIST): the feature
                          network of an offline Fréchet distance (never called an FID) and the labeller of an
                          unconditional generator's samples
"""
