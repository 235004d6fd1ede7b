"""GANRep Bench tests; the folders mirror the package layout (benchmark/, methods/, tasks/)."""
