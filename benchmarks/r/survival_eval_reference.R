# Reference numbers for Testing/test_survival_eval.py: Cox log-likelihood, AIC, BIC and the
# likelihood-ratio test of nested models (R survival), predicted survival at a time
# (survfit.coxph), and rms::calibrate(cph, cmethod = "KM") with the bootstrap resamples it drew.
#
# Run once from the repository root (needs Testing/fixtures/r_lung.csv from
# survival_reference.R):
#   Rscript benchmarks/r/survival_eval_reference.R
# It writes Testing/fixtures/r_survival_eval_reference.json.
# R 4.2.2, survival 3.5-3, rms 6.5-0 were used for the committed fixture.
suppressPackageStartupMessages({
  library(survival)
  library(rms)
  library(jsonlite)
})
outdir <- "Testing/fixtures"
lung <- read.csv(file.path(outdir, "r_lung.csv"))
d <- lung[complete.cases(lung[, c("time", "status", "age", "sex", "ph.ecog", "ph.karno")]), ]
rownames(d) <- NULL
ref <- list(versions = list(R = R.version.string,
                            survival = as.character(packageVersion("survival")),
                            rms = as.character(packageVersion("rms"))),
            n = nrow(d), rows = as.integer(which(complete.cases(
              lung[, c("time", "status", "age", "sex", "ph.ecog", "ph.karno")])) - 1L))

m1 <- coxph(Surv(time, status) ~ age + sex, d)
m2 <- coxph(Surv(time, status) ~ age + sex + ph.ecog, d)
m3 <- coxph(Surv(time, status) ~ age + sex + ph.ecog + ph.karno, d)
mod <- function(m) list(coef = unname(coef(m)), loglik = m$loglik[2], loglik0 = m$loglik[1],
                        AIC = AIC(m), BIC = BIC(m), nevent = m$nevent)
ref$models <- list(m1 = mod(m1), m2 = mod(m2), m3 = mod(m3))
a12 <- anova(m1, m2); a23 <- anova(m2, m3); a13 <- anova(m1, m3)
lrt <- function(a) list(chisq = a$Chisq[2], df = a$Df[2], p = a[["Pr(>|Chi|)"]][2])
ref$lrt <- list(m1_m2 = lrt(a12), m2_m3 = lrt(a23), m1_m3 = lrt(a13))

# predicted survival at 365 days of every subject (Efron baseline, survfit.coxph)
sf <- survfit(m2, newdata = d)
ref$surv365_m2 <- as.numeric(summary(sf, times = 365)$surv)

# rms calibration of m2 at u = 365 days, m = 50 subjects per group, B = 40
dd <- datadist(d); options(datadist = "dd")
f <- cph(Surv(time, status) ~ age + sex + ph.ecog, data = d, x = TRUE, y = TRUE, surv = TRUE,
         time.inc = 365)
B <- 40
set.seed(2023)
cal <- calibrate(f, cmethod = "KM", u = 365, m = 50, B = B)
set.seed(2023)
idx <- replicate(B, sample(nrow(d), replace = TRUE))    # the resamples predab.resample drew
ref$calibrate <- list(u = 365, m = 50, B = B,
                      table = as.data.frame(unclass(cal)[, c("index.orig", "training", "test",
                                                            "mean.optimism", "mean.corrected",
                                                            "n", "mean.predicted", "KM",
                                                            "KM.corrected", "std.err")]),
                      predicted = as.numeric(attr(cal, "predicted")),
                      boot_indices = lapply(seq_len(B), function(b) idx[, b] - 1L))
write(toJSON(ref, auto_unbox = TRUE, digits = 15, pretty = FALSE),
      file.path(outdir, "r_survival_eval_reference.json"))
