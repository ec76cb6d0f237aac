# Regenerate the multilevel-model fixtures used by tests/test_multilevel.py.
#
#   Rscript tests/reference/generate_multilevel_fixtures.R        (from the repository root)
#
# Writes one JSON file per data set into tests/reference/fixtures/multilevel/. Needs R with
# metafor, clubSandwich and jsonlite (Debian: r-cran-metafor r-cran-clubsandwich r-cran-jsonlite).
#
# Three-level models: rma.mv(yi, V, random = ~ 1 | cluster/comparison), REML and ML, z and t
# tests; the CHE working model (V from vcalc with rho = 0.6); cluster-robust inference by
# robust(..., cluster = cluster, clubSandwich = TRUE) (CR2, Satterthwaite df).
#
# Why the variance components are polished. rma.mv maximises the likelihood with nlminb on
# log(sigma2) and stops 1e-7 to 5e-7 (relative) short of the maximiser on flat likelihoods, even
# with rel.tol = 1e-12, which moves every derived number in the 6th to 7th digit. Here metafor's
# estimate is polished by Newton's method on the exact (restricted) log-likelihood -- its analytic
# score and Hessian (Harville 1977), written below with dense matrices -- and every reported number
# then comes from metafor itself: rma.mv(..., sigma2 = <polished>) and robust() of that fit. The
# script checks the polish against metafor: metafor's own logLik() at the polished values must be
# at least its logLik at its own optimum, and a central-difference gradient of metafor's logLik()
# must vanish there. Profile-likelihood CIs are polished the same way: each bound solves
# 2 (ll_max - max_other ll) = qchisq(0.95, 1) with the inner maximum found from the analytic score
# and ll from metafor's logLik(); metafor's own confint() bounds are kept beside them (confint_metafor)
# for the record.

suppressPackageStartupMessages({
  library(metafor)
  library(clubSandwich)
  library(jsonlite)
})
source(file.path("tests", "reference", "json_writer.R"))

out_dir <- file.path("tests", "reference", "fixtures", "multilevel")
dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)
VERSIONS <- list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                 clubSandwich = as.character(packageVersion("clubSandwich")),
                 jsonlite = as.character(packageVersion("jsonlite")))
MV_CONTROL <- list(rel.tol = 1e-12, iter.max = 10000, eval.max = 10000)
CHE_RHO <- 0.6

s <- function(x) scalar(if (is.null(x)) NA else unname(x)[1])
v <- function(x) as.numeric(unname(x))

# ---------------------------------------------------------------------------------------------
# The exact log-likelihood's score and Hessian (dense; the data sets are small).
# M = V + s1 Z Z' + s2 I, W = M^-1, P = W - W X (X'WX)^-1 X'W, G1 = Z Z', G2 = I, Q = P (REML) or
# W (ML): score_j = -tr(Q G_j)/2 + y'P G_j P y/2, Hessian_jl = tr(Q G_j Q G_l)/2 - y'P G_j P G_l P y.

derivatives <- function(s2, y, V, Z, X, reml) {
  G <- list(tcrossprod(Z), diag(nrow(V)))
  M <- V + s2[1] * G[[1]] + s2[2] * G[[2]]
  W <- chol2inv(chol(M))
  P <- W - W %*% X %*% solve(crossprod(X, W %*% X), crossprod(X, W))
  Q <- if (reml) P else W
  Py <- P %*% y
  score <- vapply(G, function(g) -0.5 * sum(Q * g) + 0.5 * drop(crossprod(Py, g %*% Py)), 0)
  hess <- matrix(0, 2, 2)
  for (j in 1:2) for (l in 1:2) {
    hess[j, l] <- 0.5 * sum(diag(Q %*% G[[j]] %*% Q %*% G[[l]])) -
      drop(crossprod(Py, G[[j]] %*% P %*% G[[l]] %*% Py))
  }
  list(score = score, hess = hess)
}

# Newton's method on the free components from `s2` (a component at 0 whose score is <= 0 stays
# there; `fixed` components are held), to a step below 1e-15 of the scale.
newton <- function(s2, y, V, Z, X, reml, fixed = c(FALSE, FALSE)) {
  scale <- mean(diag(V))
  s2[!fixed & s2 < 1e-8 * scale] <- 0
  for (iter in 1:200) {
    d <- derivatives(s2, y, V, Z, X, reml)
    free <- !fixed & !(s2 <= 0 & d$score <= 0)
    if (!any(free)) break
    step <- solve(-d$hess[free, free, drop = FALSE], d$score[free])
    s2[free] <- pmax(0, s2[free] + step)
    if (max(abs(step)) < 1e-15 * (scale + max(s2))) break
  }
  d <- derivatives(s2, y, V, Z, X, reml)
  free <- !fixed & s2 > 0
  if (any(abs(d$score[free]) > 1e-6) || any(d$score[!fixed & s2 == 0] > 1e-8))
    stop("Newton polish did not reach a maximum: score ", paste(d$score, collapse = ", "))
  s2
}

# ---------------------------------------------------------------------------------------------
# One data set.

mv_fit <- function(d, V, method, test, sigma2 = c(NA, NA), control = MV_CONTROL) {
  rma.mv(d$yi, V, random = ~ 1 | cluster / comparison, data = d, method = method, test = test,
         sigma2 = sigma2, control = control)
}

# metafor's own estimate, the start of the polish: with rel.tol = 1e-12, or (when nlminb reports
# non-convergence there) with metafor's default control
mv_estimate <- function(d, V, method) {
  tight <- try(mv_fit(d, V, method, "z"), silent = TRUE)
  if (!inherits(tight, "try-error")) return(list(fit = tight, control = "rel.tol = 1e-12"))
  list(fit = mv_fit(d, V, method, "z", control = list()), control = "metafor default")
}

ll_at <- function(d, V, method, s2) as.numeric(logLik(mv_fit(d, V, method, "z", s2)))

polished_components <- function(d, V, method) {
  start <- mv_estimate(d, V, method)
  raw <- start$fit
  Z <- model.matrix(~ factor(d$cluster, levels = unique(d$cluster)) - 1)
  X <- cbind(rep(1, nrow(d)))
  reml <- method == "REML"
  s2 <- newton(raw$sigma2, d$yi, V, Z, X, reml)
  ll_raw <- as.numeric(logLik(raw))
  ll_pol <- ll_at(d, V, method, s2)
  if (ll_pol < ll_raw - 1e-12 * abs(ll_raw)) stop("polished logLik below metafor's: ", ll_pol, " < ", ll_raw)
  # metafor's own logLik() is no larger a relative 1e-6 away from the polished values, in each
  # direction that stays in sigma2 >= 0 (a check of the maximum independent of the score above)
  neighbours <- unlist(lapply(1:2, function(j) lapply(c(-1, 1), function(sign) {
    step <- s2; step[j] <- step[j] * (1 + sign * 1e-6)
    if (s2[j] == 0) step[j] <- if (sign > 0) 1e-6 * mean(diag(V)) else NA
    if (is.na(step[j])) NA else ll_at(d, V, method, step)
  })))
  if (any(neighbours > ll_pol, na.rm = TRUE)) stop("a neighbour of the polished values has a larger logLik")
  score_raw <- derivatives(raw$sigma2, d$yi, V, Z, X, reml)$score
  score_pol <- derivatives(s2, d$yi, V, Z, X, reml)$score
  list(raw = raw, sigma2 = s2, ll = ll_pol, Z = Z, X = X, reml = reml,
       check = list(start_control = s(start$control), sigma2_metafor = v(raw$sigma2),
                    logLik_metafor = s(ll_raw),
                    logLik_polished = s(ll_pol), logLik_neighbours_max = s(max(neighbours, na.rm = TRUE)),
                    score_metafor = v(score_raw), score_polished = v(score_pol)))
}

# Profile-likelihood bound of component j: 2 (ll_max - max_other ll) - qchisq(0.95, 1) = 0.
profile_ci <- function(d, V, method, pc, j) {
  objective <- qchisq(0.95, 1)
  scale <- mean(diag(V))
  other <- 3 - j
  dev <- function(value) {
    s2 <- pc$sigma2
    s2[j] <- value
    fixed <- c(FALSE, FALSE)
    fixed[j] <- TRUE
    score_other <- function(x) {
      s2[other] <- x
      derivatives(s2, d$yi, V, pc$Z, pc$X, pc$reml)$score[other]
    }
    if (score_other(0) <= 0) {
      s2[other] <- 0
    } else {
      s2[other] <- uniroot(score_other, c(0, max(1, 10 * pc$sigma2[other])), extendInt = "downX",
                           tol = 1e-15 * scale, maxiter = 1000)$root
    }
    2 * (pc$ll - ll_at(d, V, method, s2)) - objective
  }
  est <- pc$sigma2[j]
  lower <- if (dev(0) <= 0) 0 else uniroot(dev, c(0, est), tol = 1e-14 * scale, maxiter = 1000)$root
  hi <- max(2 * est, scale)
  while (dev(hi) <= 0) hi <- 2 * hi
  upper <- uniroot(dev, c(est, hi), tol = 1e-14 * scale, maxiter = 1000)$root
  list(ci.lb = s(lower), ci.ub = s(upper), dev_at_lb = s(if (lower > 0) dev(lower) else NA),
       dev_at_ub = s(dev(upper)))
}

fit_record <- function(d, V, method, test, pc) {
  res <- mv_fit(d, V, method, test, pc$sigma2)
  pred <- predict(res)
  rec <- list(method = s(method), test = s(test), k = s(res$k),
              n_clusters = s(length(unique(d$cluster))), sigma2 = v(pc$sigma2),
              b = s(res$b), se = s(res$se), stat = s(res$zval), pval = s(res$pval),
              ci.lb = s(res$ci.lb), ci.ub = s(res$ci.ub), ddf = s(if (test == "t") res$ddf else NA),
              QE = s(res$QE), QEdf = s(res$k - res$p), QEp = s(res$QEp),
              logLik = s(logLik(res)), pi.lb = s(pred$pi.lb), pi.ub = s(pred$pi.ub),
              weights = v(weights(res)), polish = pc$check)
  rb <- robust(res, cluster = d$cluster, clubSandwich = TRUE)
  rec$robust <- list(b = s(rb$b), se = s(rb$se), tval = s(rb$zval), ddf = s(rb$ddf),
                     pval = s(rb$pval), ci.lb = s(rb$ci.lb), ci.ub = s(rb$ci.ub))
  rec
}

model_records <- function(d, V, methods = c("REML", "ML")) {
  out <- list()
  for (method in methods) {
    pc <- polished_components(d, V, method)
    for (test in c("z", "t")) out[[paste(method, test, sep = "_")]] <- fit_record(d, V, method, test, pc)
    key <- paste(method, "z", sep = "_")
    out[[key]]$profile <- list(between = profile_ci(d, V, method, pc, 1),
                               within = profile_ci(d, V, method, pc, 2))
    out[[key]]$confint_metafor <- attempt({
      ci <- confint(pc$raw, control = list(tol = 1e-10))
      # a bound that metafor marks with "<" or ">" is the end of its search interval, not a root
      part <- function(x) list(estimate = s(x$random[1, 1]),
                               ci.lb = s(if (x$lb.sign == "") x$random[1, 2] else NA),
                               ci.ub = s(if (x$ub.sign == "") x$random[1, 3] else NA),
                               lb.sign = s(x$lb.sign), ub.sign = s(x$ub.sign))
      list(between = part(ci[[1]]), within = part(ci[[2]]))
    })
  }
  out
}

make_fixture <- function(name, description, source, d, vcalc_check = FALSE) {
  cat(name, "\n")
  d$comparison <- seq_len(nrow(d))
  fx <- list(name = s(name), description = s(description), source = s(source),
             versions = lapply(VERSIONS, s), control = lapply(MV_CONTROL, s),
             input = list(study = as.character(d$study), cluster = as.character(d$cluster),
                          yi = v(d$yi), vi = v(d$vi)))
  fx$fits <- model_records(d, diag(d$vi))
  V <- vcalc(vi, cluster = cluster, obs = comparison, rho = CHE_RHO, data = d)
  fx$che <- list(rho = s(CHE_RHO), fits = model_records(d, V, "REML"))
  if (vcalc_check) fx$vcalc <- list(rho = s(CHE_RHO), V = lapply(seq_len(nrow(V)), function(i) v(V[i, ])))
  writeLines(to_json(fx), file.path(out_dir, paste0(name, ".json")))
}

# ---------------------------------------------------------------------------------------------
# Data sets.

ko <- dat.konstantopoulos2011
make_fixture("konstantopoulos2011",
             "Modified school calendars: 56 schools in 11 districts (standardized mean differences)",
             "Konstantopoulos (2011), Res Synth Methods 2:61-76; metafor dat.konstantopoulos2011",
             data.frame(study = paste(ko$district, ko$school, sep = "-"), cluster = ko$district,
                        yi = ko$yi, vi = ko$vi))

as <- dat.assink2016
make_fixture("assink2016",
             "Delinquency and family factors: 100 effects in 17 studies (standardized mean differences)",
             "Assink & Wibbelink (2016), Quant Methods Psychol 12:154-174; metafor dat.assink2016",
             data.frame(study = paste(as$study, as$esid, sep = "-"), cluster = as$study,
                        yi = as$yi, vi = as$vi))

# Simulated three-level data: `trials` trials with 1 to `max_size` comparisons each, between-
# and within-trial variances as given, SMD-like sampling variances; values rounded to 4 decimals
# so that the stored inputs are exactly those analysed.
simulate <- function(seed, trials, max_size, between, within) {
  set.seed(seed)
  sizes <- sample(seq_len(max_size), trials, replace = TRUE)
  cluster <- rep(sprintf("t%02d", seq_len(trials)), sizes)
  u <- rep(rnorm(trials, 0, sqrt(between)), sizes)
  n <- sample(20:300, length(cluster), replace = TRUE)
  vi <- round(4 / n + 0.3^2 / (2 * n), 4)
  yi <- round(0.3 + u + rnorm(length(cluster), 0, sqrt(within)) + rnorm(length(cluster), 0, sqrt(vi)), 4)
  study <- ave(cluster, cluster, FUN = function(x) paste0(x, "-", seq_along(x)))
  data.frame(study = study, cluster = cluster, yi = yi, vi = vi)
}

make_fixture("sim_k100_c30", "Simulated: 100 comparisons in 30 trials, sigma2 = 0.05 between, 0.02 within",
             "simulated in generate_multilevel_fixtures.R (seed 3100)",
             { d <- simulate(3100, 30, 6, 0.05, 0.02); d[seq_len(100), ] })
make_fixture("sim_within_zero", "Simulated: 40 comparisons in 15 trials, no within-trial heterogeneity",
             "simulated in generate_multilevel_fixtures.R (seed 3200)",
             simulate(3200, 15, 4, 0.08, 0))
make_fixture("sim_between_zero", "Simulated: 36 comparisons in 12 trials, no between-trial heterogeneity",
             "simulated in generate_multilevel_fixtures.R (seed 3300)",
             simulate(3300, 12, 5, 0, 0.06))
make_fixture("small_k9_c4", "Small: 9 comparisons in 4 trials (one trial with a single comparison)",
             "constructed",
             data.frame(study = c("a-1", "a-2", "a-3", "b-1", "b-2", "c-1", "d-1", "d-2", "d-3"),
                        cluster = c("a", "a", "a", "b", "b", "c", "d", "d", "d"),
                        yi = c(0.42, 0.31, 0.55, 0.12, -0.05, 0.38, 0.71, 0.52, 0.64),
                        vi = c(0.041, 0.052, 0.047, 0.033, 0.036, 0.060, 0.071, 0.065, 0.080)),
             vcalc_check = TRUE)

cat("fixtures written to", out_dir, "\n")
