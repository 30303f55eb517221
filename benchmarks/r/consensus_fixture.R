# Reference outputs of R's ConsensusClusterPlus / cluster::pam / RNG for Testing/test_consensus.py.
# Called by benchmarks/r/make_consensus_fixture.py (which writes the inputs and packs the outputs):
#   Rscript consensus_fixture.R <workdir> <n> <p> <reps> <maxK> <seed>
# Inputs in <workdir>: data.bin (n x p doubles, row-major: rows = items), pam_<i>.bin (square
# dissimilarity matrices, sizes in pam_sizes.txt).  Outputs: binary doubles / integers, see below.
suppressPackageStartupMessages({library(ConsensusClusterPlus); library(cluster)})
args <- commandArgs(trailingOnly = TRUE)
wd <- args[1]; n <- as.integer(args[2]); p <- as.integer(args[3])
reps <- as.integer(args[4]); maxK <- as.integer(args[5]); seed <- as.numeric(args[6])
pdf(file = NULL)  # ConsensusClusterPlus draws on the current device even with plot = NULL
f <- function(name) file.path(wd, name)
rd <- function(name, what, len) { con <- file(f(name), "rb"); on.exit(close(con)); readBin(con, what, len) }
wr <- function(x, name) { con <- file(f(name), "wb"); on.exit(close(con)); writeBin(x, con) }

X <- matrix(rd("data.bin", "double", n * p), nrow = n, ncol = p, byrow = TRUE)
d <- t(X)  # ConsensusClusterPlus: columns = items
colnames(d) <- paste0("item", seq_len(n))
wr(as.vector(as.matrix(1 - cor(d, method = "pearson", use = "everything"))), "dist.bin")

pt0 <- proc.time()
res <- ConsensusClusterPlus(d, maxK = maxK, reps = reps, pItem = 0.8, pFeature = 1,
                            clusterAlg = "pam", distance = "pearson", innerLinkage = "average",
                            finalLinkage = "average", corUse = "everything", seed = seed,
                            plot = NULL, verbose = FALSE)
pt1 <- proc.time() - pt0
# elapsed and CPU (user + system) seconds of the ConsensusClusterPlus call
writeLines(format(c(pt1[["elapsed"]], pt1[["user.self"]] + pt1[["sys.self"]]), digits = 10),
           f("r_seconds.txt"))
# consensus CDF area, exactly as ConsensusClusterPlus:::CDF computes it
area_of <- function(ml) {
  v <- ConsensusClusterPlus:::triangle(ml, mode = 1)
  h <- hist(v, plot = FALSE, breaks = seq(0, 1, by = 1 / 100))
  h$counts <- cumsum(h$counts) / sum(h$counts)
  a <- 0
  for (bi in 1:(length(h$breaks) - 1)) a <- a + h$counts[bi] * (h$breaks[bi + 1] - h$breaks[bi])
  a
}
areas <- c()
for (k in 2:maxK) {
  wr(as.vector(res[[k]]$consensusMatrix), sprintf("cons_%d.bin", k))
  wr(as.integer(res[[k]]$consensusClass), sprintf("class_%d.bin", k))
  areas <- c(areas, area_of(res[[k]]$consensusMatrix))
}
wr(areas, "areas.bin")
if (Sys.getenv("CC_ONLY") == "1") quit(save = "no")  # side-by-side benchmark: consensus only

# the same data with distance = "euclidean" (8 resamplings, k = 2..4, seed 77)
eres <- ConsensusClusterPlus(d, maxK = 4, reps = 8, pItem = 0.8, pFeature = 1, clusterAlg = "pam",
                             distance = "euclidean", finalLinkage = "average", seed = 77,
                             plot = NULL, verbose = FALSE)
for (k in 2:4) {
  wr(as.vector(eres[[k]]$consensusMatrix), sprintf("econs_%d.bin", k))
  wr(as.integer(eres[[k]]$consensusClass), sprintf("eclass_%d.bin", k))
}

# R's RNG: set.seed(s); sample(n, m)
set.seed(1); wr(as.integer(sample(676, 540)), "rng_1_676_540.bin")
set.seed(123); wr(as.integer(sample(1682, 1345)), "rng_123_1682_1345.bin")
set.seed(-5); wr(as.integer(sample(100000, 10)), "rng_m5_100000_10.bin")
set.seed(2024); s1 <- sample(50, 40); s2 <- sample(50, 40); wr(as.integer(c(s1, s2)), "rng_2024_twice.bin")
set.seed(7); wr(runif(5), "rng_7_runif.bin")

# cluster::pam on small matrices (some with ties)
sizes <- as.integer(readLines(f("pam_sizes.txt")))
for (i in seq_along(sizes)) {
  m <- sizes[i]
  D <- matrix(rd(sprintf("pam_%d.bin", i), "double", m * m), nrow = m)
  out <- c()
  for (k in 2:4) {
    pm <- pam(as.dist(D), k, diss = TRUE)
    out <- c(out, sort(pm$id.med), pm$clustering)
  }
  wr(as.integer(out), sprintf("pamout_%d.bin", i))
}
