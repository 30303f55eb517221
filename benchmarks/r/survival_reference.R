# Reference numbers for Testing/test_survival.py, computed with R's survival and pROC packages.
#
# Run once from the repository root:
#   Rscript benchmarks/r/survival_reference.R
# It writes
#   Testing/fixtures/r_lung.csv                 R's survival::lung (status recoded 1/2 -> 0/1)
#   Testing/fixtures/r_aSAH.csv                 pROC's aSAH (outcome as 0/1, s100b, ndka)
#   Testing/fixtures/r_survival_reference.json  the reference statistics
# R 4.2.2, survival 3.5-3, pROC 1.18.0 were used for the committed fixtures.
suppressPackageStartupMessages({
  library(survival)
  library(pROC)
  library(jsonlite)
})

outdir <- "Testing/fixtures"
dig <- 15

lung <- survival::lung
lung$status <- lung$status - 1L          # 1 = censored, 2 = dead  ->  0 / 1
write.csv(lung, file.path(outdir, "r_lung.csv"), row.names = FALSE, na = "")

ref <- list(versions = list(R = R.version.string,
                            survival = as.character(packageVersion("survival")),
                            pROC = as.character(packageVersion("pROC"))))

# ---- log-rank, two groups (sex) -------------------------------------------------------------
sd <- survdiff(Surv(time, status) ~ sex, data = lung)
ref$logrank_sex <- list(chisq = sd$chisq, df = length(sd$n) - 1,
                        p = pchisq(sd$chisq, length(sd$n) - 1, lower.tail = FALSE),
                        observed = as.numeric(sd$obs), expected = as.numeric(sd$exp))

# ---- log-rank, three groups (ph.ecog 0/1/2; the single ecog=3 patient and the NA dropped) ----
le <- subset(lung, !is.na(ph.ecog) & ph.ecog <= 2)
sd3 <- survdiff(Surv(time, status) ~ factor(ph.ecog), data = le)
pw <- list()
lv <- c(0, 1, 2)
for (i in 1:2) for (j in (i + 1):3) {
  s <- survdiff(Surv(time, status) ~ factor(ph.ecog), data = subset(le, ph.ecog %in% lv[c(i, j)]))
  pw[[length(pw) + 1]] <- list(a = lv[i], b = lv[j], chisq = s$chisq,
                               p = pchisq(s$chisq, 1, lower.tail = FALSE))
}
praw <- sapply(pw, function(x) x$p)
ph <- p.adjust(praw, "holm"); pb <- p.adjust(praw, "BH")
for (k in seq_along(pw)) { pw[[k]]$p_holm <- ph[k]; pw[[k]]$p_bh <- pb[k] }
ref$logrank_ecog <- list(n = nrow(le), chisq = sd3$chisq, df = 2,
                         p = pchisq(sd3$chisq, 2, lower.tail = FALSE), pairwise = pw)

# ---- Kaplan-Meier by sex: survival, log-log CI, numbers at risk, median with CI ------------
times <- c(180, 365, 730)
km <- survfit(Surv(time, status) ~ sex, data = lung, conf.type = "log-log")
sk <- summary(km, times = times, extend = TRUE)
ref$km_sex <- list(times = times,
                   strata = as.character(sk$strata), time = sk$time, n_risk = sk$n.risk,
                   surv = sk$surv, lower = sk$lower, upper = sk$upper,
                   median = as.numeric(summary(km)$table[, "median"]),
                   median_lower = as.numeric(summary(km)$table[, "0.95LCL"]),
                   median_upper = as.numeric(summary(km)$table[, "0.95UCL"]))

# ---- Cox PH: factor(ph.ecog) (reference 0) + age + sex, Efron ties, complete cases ---------
fit <- coxph(Surv(time, status) ~ factor(ph.ecog) + age + sex, data = le, ties = "efron")
s <- summary(fit)
ref$cox <- list(n = fit$n, n_events = fit$nevent,
                terms = c("ph.ecog=1", "ph.ecog=2", "age", "sex"),
                coef = as.numeric(s$coefficients[, "coef"]),
                se = as.numeric(s$coefficients[, "se(coef)"]),
                z = as.numeric(s$coefficients[, "z"]),
                p = as.numeric(s$coefficients[, "Pr(>|z|)"]),
                hr = as.numeric(s$conf.int[, "exp(coef)"]),
                ci_low = as.numeric(s$conf.int[, "lower .95"]),
                ci_high = as.numeric(s$conf.int[, "upper .95"]),
                loglik = as.numeric(fit$loglik),
                concordance = as.numeric(s$concordance[1]),
                concordance_se = as.numeric(s$concordance[2]))
# Harrell's C of the linear predictor, counted as in Harrell (tied times not comparable, tied
# predictions count 1/2): concordance() with timewt = "n" gives the same number.
cc <- concordance(fit)
ref$cox$concordance_fn <- as.numeric(cc$concordance)
ref$cox$concordance_counts <- as.list(cc$count)
# Schoenfeld residual test (survival >= 3.0 uses the exact score test), transform "km"
z <- cox.zph(fit, transform = "km")
ref$cox_zph_km <- list(terms = rownames(z$table), chisq = as.numeric(z$table[, "chisq"]),
                       df = as.numeric(z$table[, "df"]), p = as.numeric(z$table[, "p"]))
z2 <- cox.zph(fit, transform = "identity")
ref$cox_zph_identity <- list(terms = rownames(z2$table), chisq = as.numeric(z2$table[, "chisq"]),
                             df = as.numeric(z2$table[, "df"]), p = as.numeric(z2$table[, "p"]))

# ---- DeLong: pROC worked example (aSAH, s100b vs ndka) -------------------------------------
data(aSAH)
write.csv(data.frame(outcome = as.integer(aSAH$outcome == "Poor"), s100b = aSAH$s100b,
                     ndka = aSAH$ndka),
          file.path(outdir, "r_aSAH.csv"), row.names = FALSE)
r1 <- roc(aSAH$outcome, aSAH$s100b, levels = c("Good", "Poor"), direction = "<", quiet = TRUE)
r2 <- roc(aSAH$outcome, aSAH$ndka, levels = c("Good", "Poor"), direction = "<", quiet = TRUE)
t <- roc.test(r1, r2, method = "delong")
c1 <- ci.auc(r1, method = "delong"); c2 <- ci.auc(r2, method = "delong")
ref$delong_aSAH <- list(auc1 = as.numeric(r1$auc), auc2 = as.numeric(r2$auc),
                        z = as.numeric(t$statistic), p = as.numeric(t$p.value),
                        auc1_ci = as.numeric(c1)[c(1, 3)], auc2_ci = as.numeric(c2)[c(1, 3)])

writeLines(toJSON(ref, auto_unbox = TRUE, digits = dig, pretty = TRUE),
           file.path(outdir, "r_survival_reference.json"))
cat("wrote", file.path(outdir, "r_survival_reference.json"), "\n")
