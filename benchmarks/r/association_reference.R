# Reference numbers for Testing/test_association.py: R lm and lme4::lmer (REML) per pair.
#
# Run once from the repository root:
#   Rscript benchmarks/r/association_reference.R
# It writes
#   Testing/fixtures/r_association_data.csv       simulated patients (ID, f1..f4, v1, v2, site, age, sex)
#   Testing/fixtures/r_association_reference.json lm / lmer coefficient, SE, statistic per pair
# R 4.2.2, lme4 1.1-31 were used for the committed fixtures.
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
outdir <- "Testing/fixtures"
set.seed(20)
n <- 60
site <- sample(c("A", "B", "C", "D"), n, replace = TRUE)
u <- c(A = 0, B = 1.2, C = -0.8, D = 2.0)
age <- round(rnorm(n, 60, 9), 1)
sex <- sample(c("F", "M"), n, replace = TRUE)
f1 <- rnorm(n); f2 <- rnorm(n, 5, 2); f3 <- rexp(n); f4 <- rnorm(n)
v1 <- 0.5 * f1 + u[site] + 0.02 * age + rnorm(n)            # feature + site effect
v2 <- -0.3 * f2 + rnorm(n, sd = 2)                            # no site effect (boundary)
d <- data.frame(ID = sprintf("P%03d", 1:n), f1, f2, f3, f4, v1 = as.numeric(v1), v2, site, age, sex)
d$f3[7] <- NA                                                 # one missing feature value
write.csv(d, file.path(outdir, "r_association_data.csv"), row.names = FALSE, na = "")

dig <- 15
res <- list(versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4"))))
rows <- list()
for (v in c("v1", "v2")) for (f in c("f1", "f2", "f3", "f4")) {
  dd <- d[complete.cases(d[, c(f, v, "age", "sex", "site")]), ]
  # raw scale, response = variable: lm with covariates, lmer with (1 | site)
  fo <- as.formula(paste(v, "~", f, "+ age + sex"))
  l <- summary(lm(fo, dd))$coefficients[f, ]
  fm <- as.formula(paste(v, "~", f, "+ age + sex + (1 | site)"))
  m <- lmer(fm, dd, REML = TRUE)
  mc <- summary(m)$coefficients[f, ]
  vc <- as.data.frame(VarCorr(m))$vcov
  # standardised (both z-scored over the complete rows), no covariates, response = feature
  z <- data.frame(y = as.numeric(scale(dd[[f]])), x = as.numeric(scale(dd[[v]])), site = dd$site)
  ls <- summary(lm(y ~ x, z))$coefficients["x", ]
  ms <- lmer(y ~ x + (1 | site), z, REML = TRUE)
  msc <- summary(ms)$coefficients["x", ]
  rows[[length(rows) + 1]] <- list(
    feature = f, variable = v, n = nrow(dd),
    lm = list(coef = l[[1]], se = l[[2]], t = l[[3]], p = l[[4]]),
    lmer = list(coef = mc[[1]], se = mc[[2]], t = mc[[3]], group_var = vc[1], resid_var = vc[2]),
    lm_std_feature = list(coef = ls[[1]], se = ls[[2]], t = ls[[3]], p = ls[[4]],
                          r = cor(dd[[f]], dd[[v]])),
    lmer_std_feature = list(coef = msc[[1]], se = msc[[2]], t = msc[[3]]))
}
res$pairs <- rows
write(toJSON(res, auto_unbox = TRUE, digits = dig, pretty = TRUE),
      file.path(outdir, "r_association_reference.json"))
