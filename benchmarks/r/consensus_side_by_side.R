# ConsensusClusterPlus on a features CSV, for benchmarks/consensus_vs_r.py:
#   Rscript consensus_side_by_side.R <features.csv> <outdir> <reps> <maxK> <seed>
# The CSV has an ID column first and one numeric column per feature (rows = items), the table
# `pancancer-subtype discover` reads; R receives it transposed (columns = items), as is.
# Writes to <outdir>: cons_<k>.bin (n x n doubles, column-major), class_<k>.bin (int32),
# r_seconds.txt (elapsed and CPU = user + system seconds of the ConsensusClusterPlus call) and
# versions.txt.
suppressPackageStartupMessages({library(ConsensusClusterPlus); library(cluster)})
args <- commandArgs(trailingOnly = TRUE)
csv <- args[1]; out <- args[2]; reps <- as.integer(args[3]); maxK <- as.integer(args[4])
seed <- as.numeric(args[5])
pdf(file = NULL)  # ConsensusClusterPlus draws on the current device even with plot = NULL
f <- function(name) file.path(out, name)
wr <- function(x, name) { con <- file(f(name), "wb"); on.exit(close(con)); writeBin(x, con) }

tab <- read.csv(csv, check.names = FALSE, colClasses = c("character"))
ids <- tab[[1]]
X <- as.matrix(sapply(tab[, -1, drop = FALSE], as.numeric))  # the decimal text, as read.csv
d <- t(X)
colnames(d) <- ids
pt0 <- proc.time()
res <- ConsensusClusterPlus(d, maxK = maxK, reps = reps, pItem = 0.8, pFeature = 1,
                            clusterAlg = "pam", distance = "pearson", innerLinkage = "average",
                            finalLinkage = "average", corUse = "everything", seed = seed,
                            plot = NULL, verbose = FALSE)
pt1 <- proc.time() - pt0
writeLines(format(c(pt1[["elapsed"]], pt1[["user.self"]] + pt1[["sys.self"]]), digits = 10),
           f("r_seconds.txt"))
for (k in 2:maxK) {
  wr(as.vector(res[[k]]$consensusMatrix), sprintf("cons_%d.bin", k))
  wr(as.integer(res[[k]]$consensusClass), sprintf("class_%d.bin", k))
}
writeLines(c(R.version.string,
             paste("ConsensusClusterPlus", as.character(packageVersion("ConsensusClusterPlus"))),
             paste("cluster", as.character(packageVersion("cluster")))), f("versions.txt"))
