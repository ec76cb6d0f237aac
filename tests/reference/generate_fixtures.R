# Regenerate the metafor reference fixtures used by tests/test_metafor_fixtures.py.
#
#   Rscript tests/reference/generate_fixtures.R        (from the repository root)
#
# Writes one JSON file per data set into tests/reference/fixtures/. Every number is printed with
# 17 significant digits ("%.17g"), so a double survives the round trip exactly; NA/NaN/Inf are
# written as null. Needs R with the packages metafor and jsonlite (Debian: r-cran-metafor,
# r-cran-jsonlite). See tests/reference/README.md for the conventions recorded here.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

out_dir <- file.path("tests", "reference", "fixtures")
dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)

# Tight convergence: Fisher scoring (REML/ML/EB) stops on a change below `threshold`; PM and the
# Q-profile CI solve with uniroot to `tol`.
FIT_CONTROL <- list(threshold = 1e-12, maxiter = 1000, tol = 1e-12)
CI_CONTROL <- list(tol = 1e-12, maxiter = 1000)
METHODS <- c("FE", "DL", "REML", "ML", "PM", "SJ", "HE", "EB")
TESTS <- c("z", "knha", "adhoc")
BINARY_MEASURES <- c("RR", "OR", "RD")
VERSIONS <- list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                 jsonlite = as.character(packageVersion("jsonlite")))
L1O_COLUMNS <- c("estimate", "se", "zval", "pval", "ci.lb", "ci.ub", "Q", "Qp", "I2", "H2")

source(file.path("tests", "reference", "json_writer.R"))

# R's factor() orders levels by the locale's collation; the fixtures record the order of an
# English UTF-8 locale (glibc), R's usual one. Debian: apt-get install locales and
# localedef -i en_US -f UTF-8 en_US.UTF-8.
if (Sys.setlocale("LC_COLLATE", "en_US.UTF-8") == "") stop("the locale en_US.UTF-8 is not installed")

# ---------------------------------------------------------------------------------------------
# Heterogeneity from Q alone (same for every tau2 method: QE is the inverse-variance Q).
# I2 = max(0, (Q - df) / Q) with the Higgins & Thompson (2002, Appendix A2) test-based CI on ln H,
# written out exactly as R package meta does it (meta:::calcH / meta:::isquared; meta itself is
# not packaged for Debian): the interval is centred on ln(max(H, 1)) and truncated at H = 1.
higgins_thompson <- function(Q, df, level = 95) {
  k <- df + 1
  if (k < 2) return(list(Q = s(Q), df = s(df), I2 = s(NA), I2.lb = s(NA), I2.ub = s(NA),
                         H = s(NA), H.lb = s(NA), H.ub = s(NA)))
  H <- sqrt(Q / df)
  se_log_h <- if (Q > k) {
    0.5 * (log(Q) - log(k - 1)) / (sqrt(2 * Q) - sqrt(2 * k - 3))
  } else if (k > 2) {
    sqrt(1 / (2 * (k - 2)) * (1 - 1 / (3 * (k - 2)^2)))
  } else NA
  crit <- qnorm(1 - (1 - level / 100) / 2)
  centre <- log(max(H, 1))
  H_lb <- max(exp(centre - crit * se_log_h), 1)
  H_ub <- max(exp(centre + crit * se_log_h), 1)
  i2 <- function(h) 100 * (h^2 - 1) / h^2
  list(Q = s(Q), df = s(df), I2 = s(i2(max(H, 1))), I2.lb = s(i2(H_lb)), I2.ub = s(i2(H_ub)),
       H = s(H), H.lb = s(H_lb), H.ub = s(H_ub))
}

i2_from_q <- function(Q, df) ifelse(df > 0, 100 * pmax(0, (Q - df) / Q), NA)

# ---------------------------------------------------------------------------------------------
# Model records.

fit_record <- function(res) {
  is_t <- res$test != "z"
  rec <- list(method = s(res$method), test = s(res$test), k = s(res$k),
              b = s(res$b), se = s(res$se))
  rec[[if (is_t) "tval" else "zval"]] <- s(res$zval)
  rec$dfs <- s(if (is_t) res$ddf else NA)
  rec <- c(rec, list(pval = s(res$pval), ci.lb = s(res$ci.lb), ci.ub = s(res$ci.ub),
                     tau2 = s(res$tau2), se.tau2 = s(res$se.tau2), QE = s(res$QE),
                     QEp = s(res$QEp), I2 = s(res$I2), H2 = s(res$H2), vt = s(res$vt),
                     weights = v(weights(res))))
  pred <- predict(res)
  rec$predict <- list(pred = s(pred$pred), se = s(pred$se), pi.lb = s(pred$pi.lb),
                      pi.ub = s(pred$pi.ub), pi.ddf = s(if (is.null(pred$pi.ddf)) NA else pred$pi.ddf))
  if (!is_t && res$k >= 3) {
    # Prediction intervals with t quantiles around the z-test fit (Higgins, Thompson &
    # Spiegelhalter 2009: t(k-2); IntHout et al. 2016: t(k-1)), computed from metafor's b, se, tau2.
    half <- function(df) qt(0.975, df) * sqrt(res$tau2 + res$se^2)
    rec$pi_t <- list(t1.lb = s(res$b - half(res$k - 1)), t1.ub = s(res$b + half(res$k - 1)),
                     t2.lb = s(res$b - half(res$k - 2)), t2.ub = s(res$b + half(res$k - 2)))
  }
  if (res$method != "FE") {
    rec$confint <- attempt({
      # metafor caps the upper bound at tau2.max = max(100, 10 tau2) by default and then
      # reports the cap; a far larger cap lets uniroot find the actual Q-profile root.
      cap <- 1e4 * max(1, res$tau2, var(res$yi))
      ci <- confint(res, control = c(CI_CONTROL, tau2.max = cap))$random
      if (ci["tau^2", "ci.ub"] >= cap) stop("Q-profile upper bound reached tau2.max")
      row <- function(r) list(estimate = s(ci[r, "estimate"]), ci.lb = s(ci[r, "ci.lb"]),
                              ci.ub = s(ci[r, "ci.ub"]))
      list(tau2 = row("tau^2"), I2 = row("I^2(%)"), H2 = row("H^2"))
    })
  }
  rec
}

frame_record <- function(df) lapply(as.list(df), function(col) if (is.numeric(col)) v(col) else col)

leave1out_record <- function(res) {
  l1o <- leave1out(res)
  out <- frame_record(as.data.frame(l1o)[, c("estimate", "se", if (res$test == "z") "zval" else "tval",
                                            "pval", "ci.lb", "ci.ub", "Q", "Qp", "tau2", "I2", "H2")])
  out$I2_Q <- v(i2_from_q(l1o$Q, res$k - 2))
  out
}

cumul_record <- function(res) {
  cum <- cumul(res)
  out <- frame_record(as.data.frame(cum)[, c("estimate", "se", if (res$test == "z") "zval" else "tval",
                                            "pvals", "ci.lb", "ci.ub", "Q", "Qp", "tau2", "I2", "H2")])
  out$k <- seq_along(cum$estimate)
  out$I2_Q <- v(i2_from_q(cum$Q, out$k - 1))
  out
}

influence_record <- function(res) {
  inf <- influence(res)
  out <- frame_record(as.data.frame(unclass(inf$inf)[c("rstudent", "dffits", "cook.d", "cov.r", "tau2.del",
                                              "QE.del", "hat", "weight")]))
  out$dfbs <- v(inf$dfbs$intrcpt)
  out$inf <- as.logical(inf$is.infl)
  out
}

regtest_record <- function(res, model, predictor = "sei", ni = NULL) {
  rt <- if (is.null(ni)) regtest(res, model = model, predictor = predictor)
        else regtest(res, model = model, predictor = predictor, ni = ni)
  out <- list(model = s(model), predictor = s(rt$predictor), method = s(rt$method))
  out[[if (model == "rma" && res$test == "z") "zval" else "tval"]] <- s(rt$zval)
  c(out, list(pval = s(rt$pval), dfs = s(rt$dfs), est = s(rt$est), ci.lb = s(rt$ci.lb),
              ci.ub = s(rt$ci.ub)))
}

trimfill_record <- function(res, estimator) {
  # trimfill() refits without the model's control unless it is passed on explicitly
  tf <- trimfill(res, estimator = estimator, control = FIT_CONTROL)
  list(estimator = s(estimator), k0 = s(tf$k0), side = s(tf$side), k = s(tf$k), b = s(tf$b),
       se = s(tf$se), zval = s(tf$zval), pval = s(tf$pval), ci.lb = s(tf$ci.lb),
       ci.ub = s(tf$ci.ub), tau2 = s(tf$tau2), QE = s(tf$QE),
       filled_yi = v(tf$yi[tf$fill]), filled_vi = v(tf$vi[tf$fill]))
}

reml_extras <- function(res, ni = NULL) {
  extras <- list(leave1out = attempt(leave1out_record(res)),
                 influence = attempt(influence_record(res)),
                 cumul = attempt(cumul_record(res)))
  if (res$k >= 3) {
    extras$regtest_rma <- attempt(regtest_record(res, "rma"))
    extras$regtest_lm <- attempt(regtest_record(res, "lm"))
    extras$regtest_vi <- attempt(regtest_record(res, "rma", "vi"))
    if (!is.null(ni)) {
      # the total sample sizes of the analysed studies (metafor's ni of escalc)
      for (predictor in c("ni", "ninv", "sqrtni", "sqrtninv")) {
        extras[[paste0("regtest_", predictor)]] <- attempt(regtest_record(res, "rma", predictor, ni))
      }
      extras$regtest_lm_ninv <- attempt(regtest_record(res, "lm", "ninv", ni))
    }
    extras$ranktest <- attempt({
      rk <- ranktest(res)
      list(tau = s(rk$tau), pval = s(rk$pval))
    })
    extras$trimfill_L0 <- attempt(trimfill_record(res, "L0"))
    extras$trimfill_R0 <- attempt(trimfill_record(res, "R0"))
    extras$trimfill_Q0 <- attempt(trimfill_record(res, "Q0"))
  }
  extras
}

all_fits <- function(yi, vi, ni = NULL) {
  fits <- list()
  for (method in METHODS) for (test in TESTS) {
    key <- paste(method, test, sep = "_")
    fits[[key]] <- attempt({
      res <- rma(yi, vi, method = method, test = test, control = FIT_CONTROL)
      rec <- fit_record(res)
      if (key == "REML_z") rec <- c(rec, reml_extras(res, ni))
      rec
    })
  }
  fits
}

binary_record <- function(res) {
  rec <- list(measure = s(res$measure), k = s(res$k), b = s(res$b), se = s(res$se), zval = s(res$zval),
              pval = s(res$pval), ci.lb = s(res$ci.lb), ci.ub = s(res$ci.ub), QE = s(res$QE),
              QEp = s(res$QEp), k.yi = s(res$k.yi))
  if (inherits(res, "rma.mh") && res$measure == "OR") {
    # Cochran-Mantel-Haenszel test (with continuity correction, metafor's default), Breslow-Day
    # and Tarone's tests of homogeneity
    rec$tests <- list(MH = s(res$MH), MHp = s(res$MHp), BD = s(res$BD), BDp = s(res$BDp),
                      TA = s(res$TA), TAp = s(res$TAp), k.pos = s(res$k.pos))
  }
  # leave-one-out, cumulative (data order) and the small-study tests of the MH/Peto fit; tables
  # without an estimate (double-zero or all-event) are left out of the tests by metafor
  rec$leave1out <- attempt(frame_record(as.data.frame(leave1out(res))[, L1O_COLUMNS]))
  rec$cumul <- attempt(frame_record(as.data.frame(cumul(res))[, L1O_COLUMNS]))
  if (res$k.yi >= 3) {
    rec$regtest_rma <- attempt(regtest_record(res, "rma"))
    rec$regtest_lm <- attempt(regtest_record(res, "lm"))
    rec$regtest_ninv <- attempt(regtest_record(res, "rma", "ninv"))
    rec$ranktest <- attempt({
      rk <- ranktest(res)
      list(tau = s(rk$tau), pval = s(rk$pval))
    })
  }
  rec
}

# Mantel-Haenszel (RR, OR, RD) and Peto fits from the arm counts, metafor defaults
# (add = 1/2, to = "only0", drop00 = TRUE: these affect only the per-study yi/vi behind QE).
binary_pooling <- function(d, group = NULL) {
  b <- with(d, list(ai = events1, n1i = total1, ci = events2, n2i = total2))
  out <- list(options = list(add = s(0.5), to = s("only0"), drop00 = s(TRUE)))
  for (m in BINARY_MEASURES) {
    out[[paste0("MH_", m)]] <- attempt(binary_record(
      rma.mh(ai = b$ai, n1i = b$n1i, ci = b$ci, n2i = b$n2i, measure = m)))
  }
  out$MH_OR_uncorrected <- attempt({
    res <- rma.mh(ai = b$ai, n1i = b$n1i, ci = b$ci, n2i = b$n2i, measure = "OR", correct = FALSE)
    list(MH = s(res$MH), MHp = s(res$MHp))
  })
  out$PETO <- attempt(binary_record(rma.peto(ai = b$ai, n1i = b$n1i, ci = b$ci, n2i = b$n2i)))
  if (!is.null(group)) {
    # subgroups of MH/Peto fits: one fit per subgroup (NA where it has no estimate) and the
    # fixed-effect test of the subgroups with an estimate
    fits <- list(OR = function(i) rma.mh(ai = b$ai[i], n1i = b$n1i[i], ci = b$ci[i], n2i = b$n2i[i], measure = "OR"),
                 RR = function(i) rma.mh(ai = b$ai[i], n1i = b$n1i[i], ci = b$ci[i], n2i = b$n2i[i], measure = "RR"),
                 PETO = function(i) rma.peto(ai = b$ai[i], n1i = b$n1i[i], ci = b$ci[i], n2i = b$n2i[i]))
    levels <- unique(group)
    out$subgroup <- list(groups = as.character(group), levels = levels)
    for (name in names(fits)) {
      per <- lapply(levels, function(g) fits[[name]](which(group == g)))
      est <- vapply(per, function(r) r$b[1], 0)
      se <- vapply(per, function(r) r$se, 0)
      ok <- !is.na(est) & !is.na(se) & se > 0
      between <- rma(est[ok], sei = se[ok], method = "FE")
      out$subgroup[[name]] <- list(b = v(est), se = v(se), tested = levels[ok], QE = s(between$QE),
                                   df = s(sum(ok) - 1), QEp = s(between$QEp))
    }
  }
  out
}

# Subgroups: separate tau2 (REML fit per group, then a fixed-effect fit on the group estimates,
# whose QE is the test for subgroup differences) and common tau2 (rma(mods = ~ group)).
subgroup_record <- function(yi, vi, group) {
  group <- factor(group, levels = unique(group))
  per_group <- lapply(levels(group), function(g) {
    sel <- group == g
    attempt(c(list(group = s(g)), fit_record(rma(yi[sel], vi[sel], method = "REML",
                                                 control = FIT_CONTROL))))
  })
  names(per_group) <- levels(group)
  est <- sapply(per_group, function(r) r$b[[1]])
  se <- sapply(per_group, function(r) r$se[[1]])
  between <- rma(est, sei = se, method = "FE")
  common <- rma(yi, vi, mods = ~ group, method = "REML", control = FIT_CONTROL)
  common_groups <- rma(yi, vi, mods = ~ group - 1, method = "REML", control = FIT_CONTROL)
  list(groups = as.character(group), levels = levels(group),
       separate = list(groups = per_group,
                       between = list(QE = s(between$QE), df = s(between$k - 1),
                                      QEp = s(between$QEp), b = s(between$b), se = s(between$se))),
       common = list(QM = s(common$QM), QMdf = s(common$QMdf[1]), QMp = s(common$QMp),
                     tau2 = s(common$tau2), QE = s(common$QE), QEp = s(common$QEp),
                     group_b = v(common_groups$b), group_se = v(common_groups$se),
                     group_ci.lb = v(common_groups$ci.lb), group_ci.ub = v(common_groups$ci.ub)))
}

metareg_record <- function(yi, vi, x, name) {
  out <- list(moderator = s(name), values = v(x))
  newmods <- as.numeric(quantile(x, c(0, 0.5, 1), type = 1))
  out$newmods <- v(newmods)
  for (test in c("z", "knha")) {
    out[[paste0("REML_", test)]] <- attempt({
      res <- rma(yi, vi, mods = ~ x, method = "REML", test = test, control = FIT_CONTROL)
      ci <- confint(res, control = c(CI_CONTROL, tau2.max = 1e4 * max(1, res$tau2, var(yi))))$random
      pred <- predict(res, newmods = newmods)
      fs <- res$fit.stats
      list(terms = c("intrcpt", name), b = v(res$b), se = v(res$se), stat = v(res$zval),
           pval = v(res$pval), ci.lb = v(res$ci.lb), ci.ub = v(res$ci.ub), QM = s(res$QM),
           QMdf = v(res$QMdf), QMp = s(res$QMp), QE = s(res$QE), QEdf = s(res$k - res$p),
           QEp = s(res$QEp), R2 = s(res$R2), tau2 = s(res$tau2), I2 = s(res$I2), k = s(res$k),
           dfs = s(if (test == "z") NA else res$ddf),
           confint = list(tau2 = v(ci["tau^2", ]), I2 = v(ci["I^2(%)", ]), H2 = v(ci["H^2", ])),
           predict = list(pred = v(pred$pred), se = v(pred$se), ci.lb = v(pred$ci.lb),
                          ci.ub = v(pred$ci.ub), pi.lb = v(pred$pi.lb), pi.ub = v(pred$pi.ub)),
           fit_stats = list(ll = s(fs["ll", "REML"]), dev = s(fs["dev", "REML"]),
                            AIC = s(fs["AIC", "REML"]), BIC = s(fs["BIC", "REML"]),
                            AICc = s(fs["AICc", "REML"])))
    })
  }
  # likelihood-ratio tests: the moderator (ML fits), and tau2 (REML against FE, same moderators)
  out$lrt_ml <- attempt({
    full <- rma(yi, vi, mods = ~ x, method = "ML", control = FIT_CONTROL)
    reduced <- rma(yi, vi, method = "ML", control = FIT_CONTROL)
    lrt_record(anova(full, reduced))
  })
  out$lrt_tau2 <- attempt({
    full <- rma(yi, vi, mods = ~ x, method = "REML", control = FIT_CONTROL)
    reduced <- rma(yi, vi, mods = ~ x, method = "FE")
    lrt_record(anova(full, reduced))
  })
  out
}

lrt_record <- function(a) {
  stats <- function(f) list(ll = s(f[["ll"]]), dev = s(f[["dev"]]), AIC = s(f[["AIC"]]),
                            BIC = s(f[["BIC"]]), AICc = s(f[["AICc"]]))
  list(LRT = s(a$LRT), pval = s(a$pval), parms.f = s(a$parms.f), parms.r = s(a$parms.r),
       QE.f = s(a$QE.f), QE.r = s(a$QE.r), tau2.f = s(a$tau2.f), tau2.r = s(a$tau2.r),
       R2 = s(a$R2), full = stats(a$fit.stats.f), reduced = stats(a$fit.stats.r))
}

# Categorical moderators, coded by R's model.matrix: without an intercept one dummy per level
# (the defect the engine had), with a numeric moderator and a test of the factor's dummies
# (anova(btt = ...)), and labels that differ only in case (R's order of factor levels).
factor_record <- function(yi, vi, group, x = NULL, name = NULL) {
  coef_record <- function(res) list(terms = rownames(res$b), b = v(res$b), se = v(res$se),
                                    stat = v(res$zval), pval = v(res$pval), ci.lb = v(res$ci.lb),
                                    ci.ub = v(res$ci.ub), tau2 = s(res$tau2), QM = s(res$QM),
                                    QMdf = v(res$QMdf), QMp = s(res$QMp), QE = s(res$QE))
  group <- factor(group)
  out <- list(levels = levels(group))
  out$no_intercept <- attempt(coef_record(rma(yi, vi, mods = ~ group - 1, method = "REML",
                                              control = FIT_CONTROL)))
  if (!is.null(x)) {
    out$moderator <- s(name)
    out$values <- v(x)
    out$numeric_first_no_intercept <- attempt(coef_record(rma(yi, vi, mods = ~ x + group - 1,
                                                              method = "REML", control = FIT_CONTROL)))
    for (test in c("z", "knha")) {
      out[[paste0("with_numeric_", test)]] <- attempt({
        res <- rma(yi, vi, mods = ~ x + group, method = "REML", test = test, control = FIT_CONTROL)
        btt <- grep("^group", rownames(res$b))
        a <- anova(res, btt = btt)
        c(coef_record(res), list(btt = v(btt - 1), btt_QM = s(a$QM), btt_QMdf = v(a$QMdf),
                                 btt_QMp = s(a$QMp)))
      })
    }
  }
  out
}

# Exact permutation test of a meta-regression (metafor permutest with exact = TRUE).
permutest_record <- function(yi, vi, x, name) {
  res <- rma(yi, vi, mods = ~ x, method = "REML", control = FIT_CONTROL)
  pt <- permutest(res, exact = TRUE, progbar = FALSE)
  list(moderator = s(name), values = v(x), yi = v(yi), vi = v(vi), b = v(res$b),
       zval = v(res$zval), QM = s(res$QM), pval = v(pt$pval), QMp = s(pt$QMp),
       permutations = s(factorial(length(x)) / prod(factorial(table(x)))), exact = s(TRUE))
}

# ---------------------------------------------------------------------------------------------
# Effect sizes.

arm_escalc <- function(measure, d, vtype = "LS") {
  if (measure %in% c("SMD", "MD")) {
    es <- escalc(measure, n1i = d$n1, m1i = d$mean1, sd1i = d$sd1, n2i = d$n2, m2i = d$mean2,
                 sd2i = d$sd2, vtype = vtype)
    opts <- list(measure = s(measure), vtype = s(vtype))
  } else {
    drop00 <- measure %in% c("RR", "OR")
    es <- escalc(measure, ai = d$events1, n1i = d$total1, ci = d$events2, n2i = d$total2,
                 add = 1/2, to = "only0", drop00 = drop00)
    opts <- list(measure = s(measure), add = s(0.5), to = s("only0"), drop00 = s(drop00))
  }
  list(options = opts, yi = v(es$yi), vi = v(es$vi))
}

# ---------------------------------------------------------------------------------------------
# One data set -> one JSON file.

make_fixture <- function(name, description, source, measure, input, group = NULL,
                         moderator = NULL, md_vtype = "LS", case_group = NULL, permutation = NULL) {
  cat(name, "\n")
  fx <- list(name = s(name), description = s(description), source = s(source),
             measure = s(measure), versions = lapply(VERSIONS, s),
             control = list(rma = lapply(FIT_CONTROL, s), confint = lapply(CI_CONTROL, s)),
             input = lapply(input, function(col) if (is.numeric(col)) v(col) else col))
  if (measure == "GEN") {
    yi <- input$yi
    vi <- input$vi
  } else {
    if (measure %in% c("SMD", "MD")) {
      main <- if (measure == "MD") md_vtype else "LS"
      es <- arm_escalc(measure, input, main)
      # metafor 3.8 calls the separate-variance MD variance "LS"; the review calls it "HE".
      others <- if (measure == "SMD") c(UB = "UB") else c(HE = "LS", HO = "HO")
      others <- others[others != main]
      es$variants <- lapply(others, function(vt) arm_escalc(measure, input, vt))
    } else {
      es <- arm_escalc(measure, input)
      es$variants <- lapply(setNames(nm = setdiff(BINARY_MEASURES, measure)),
                            function(m) arm_escalc(m, input))
    }
    fx$escalc <- es
    yi <- es$yi
    vi <- es$vi
  }
  # Studies without an estimate (double-zero studies for RR/OR) are left out of every fit below.
  keep <- !is.na(yi)
  fx$analysed <- which(keep) - 1  # 0-based indices into the input rows
  yi <- yi[keep]
  vi <- vi[keep]
  ni <- if (!is.null(input$n1)) (input$n1 + input$n2)[keep]
        else if (!is.null(input$total1)) (input$total1 + input$total2)[keep]
  fx$heterogeneity_q <- attempt({
    q <- rma(yi, vi, method = "FE")$QE
    higgins_thompson(q, length(yi) - 1)
  })
  fx$fits <- all_fits(yi, vi, ni)
  if (!is.null(input$events1)) fx$binary <- binary_pooling(input, group)
  if (!is.null(group)) fx$subgroup <- attempt(subgroup_record(yi, vi, group[keep]))
  if (!is.null(moderator)) {
    fx$metareg <- attempt(metareg_record(yi, vi, moderator$values[keep], moderator$name))
  }
  if (!is.null(group) && length(unique(group[keep])) >= 2) {
    fx$metareg_factor <- attempt(factor_record(yi, vi, group[keep],
                                               if (!is.null(moderator)) moderator$values[keep],
                                               moderator$name))
  }
  if (!is.null(case_group)) fx$metareg_case <- attempt({
    res <- rma(yi, vi, mods = ~ factor(case_group[keep]), method = "REML", control = FIT_CONTROL)
    list(groups = case_group[keep], levels = levels(factor(case_group[keep])), b = v(res$b),
         se = v(res$se), tau2 = s(res$tau2))
  })
  if (!is.null(permutation)) {
    sel <- permutation$rows
    fx$permutest <- attempt(permutest_record(yi[sel], vi[sel], moderator$values[keep][sel],
                                             moderator$name))
  }
  if (length(yi) >= 2) {
    fx$failsafe <- attempt({
      f <- fsn(yi, vi, type = "Rosenthal")
      list(type = s("Rosenthal"), fsnum = s(f$fsnum), alpha = s(f$alpha), pval = s(f$pval))
    })
    fsn_record <- function(f) list(type = s(f$type), fsnum = s(f$fsnum), alpha = s(f$alpha),
                                   pval = s(f$pval), meanes = s(f$meanes), target = s(f$target))
    fx$failsafe_types <- list(
      orwin = attempt(fsn_record(fsn(yi, vi, type = "Orwin"))),
      orwin_weighted = attempt(fsn_record(fsn(yi, vi, type = "Orwin", weighted = TRUE))),
      orwin_target = attempt(fsn_record(fsn(yi, vi, type = "Orwin", target = 0.05))),
      rosenberg = attempt(fsn_record(fsn(yi, vi, type = "Rosenberg"))))
  }
  writeLines(to_json(fx), file.path(out_dir, paste0(name, ".json")))
}

# ---------------------------------------------------------------------------------------------
# Published data sets (metadat, shipped with metafor) and tables printed in the papers.

bcg <- dat.bcg
make_fixture(
  "bcg_rr", "BCG vaccine trials, log risk ratio (13 trials)",
  "Colditz et al. (1994), JAMA 271:698-702; metafor dat.bcg", "RR",
  list(study = as.character(bcg$trial), year = bcg$year,
       events1 = bcg$tpos, total1 = bcg$tpos + bcg$tneg,
       events2 = bcg$cpos, total2 = bcg$cpos + bcg$cneg, ablat = bcg$ablat,
       alloc = as.character(bcg$alloc)),
  group = as.character(bcg$alloc), moderator = list(name = "ablat", values = bcg$ablat),
  permutation = list(rows = 1:7))

nd <- dat.normand1999
normand_input <- list(study = as.character(nd$study), source = as.character(nd$source),
                      n1 = nd$n1i, mean1 = nd$m1i, sd1 = nd$sd1i,
                      n2 = nd$n2i, mean2 = nd$m2i, sd2 = nd$sd2i)
make_fixture("normand1999_smd", "Stroke length of stay, Hedges' g (9 studies)",
             "Normand (1999), Stat Med 18:321-359, Table I; metafor dat.normand1999", "SMD",
             normand_input)
make_fixture("normand1999_md", "Stroke length of stay, mean difference, separate SDs (9 studies)",
             "Normand (1999), Stat Med 18:321-359, Table I; metafor dat.normand1999", "MD",
             normand_input, md_vtype = "LS")
make_fixture("normand1999_md_ho", "Stroke length of stay, mean difference, pooled SD (9 studies)",
             "Normand (1999), Stat Med 18:321-359, Table I; metafor dat.normand1999", "MD",
             normand_input, md_vtype = "HO")

rd <- dat.raudenbush1985
make_fixture("raudenbush1985", "Teacher expectancy, standardized mean differences as shipped (19 studies)",
             "Raudenbush (1985), J Educ Stat 10:75-98; metafor dat.raudenbush1985 (yi, vi)", "GEN",
             list(study = as.character(rd$study), yi = rd$yi, vi = rd$vi, weeks = rd$weeks,
                  tester = as.character(rd$tester)),
             group = as.character(rd$tester), moderator = list(name = "weeks", values = rd$weeks))

make_fixture("clasp_or", "CLASP trials, log odds ratio (6 trials)",
             "DerSimonian & Kacker (2007), Contemp Clin Trials 28:105-114", "OR",
             list(study = as.character(1:6),
                  events1 = c(5, 5, 12, 69, 9, 313), total1 = c(156, 303, 565, 1570, 103, 4659),
                  events2 = c(8, 17, 9, 94, 11, 352), total2 = c(74, 303, 477, 1565, 105, 4650)))

make_fixture("normand1999_table3", "Risk differences in percentage points, tau2 = 0 boundary (6 studies)",
             "Normand (1999), Stat Med 18:321-359, Table III", "GEN",
             list(study = as.character(1:6),
                  yi = c(2.8026, 0.0000, 1.9711, 1.7961, 3.5334, 4.4031),
                  vi = c(17.7575, 37.5657, 8.1323, 10.8998, 8.0114, 6.1320)))

eg <- dat.egger2001
make_fixture("egger2001_magnesium", "Intravenous magnesium after myocardial infarction, log odds ratio (16 trials)",
             "Egger et al. (2001), BMJ 322:226; metafor dat.egger2001", "OR",
             list(study = as.character(eg$study), year = eg$year,
                  events1 = eg$ai, total1 = eg$n1i, events2 = eg$ci, total2 = eg$n2i))

hk <- dat.hackshaw1998
make_fixture("hackshaw1998", "Passive smoking and lung cancer, log odds ratio as shipped (37 studies)",
             "Hackshaw et al. (1997), BMJ 315:980-988; metafor dat.hackshaw1998 (yi, vi)", "GEN",
             list(study = as.character(hk$study), yi = hk$yi, vi = hk$vi))

# ---------------------------------------------------------------------------------------------
# Simulated data sets (fixed seeds). Values are rounded as a report would print them, so the
# inputs stored in the JSON are exactly the ones analysed.

simulate_continuous <- function(k, tau2, seed) {
  set.seed(seed)
  n1 <- sample(12:150, k, replace = TRUE)
  n2 <- sample(12:150, k, replace = TRUE)
  sd_true <- runif(k, 4, 16)
  theta <- rnorm(k, 0.3, sqrt(tau2))
  base <- rnorm(k, 30, 5)
  list(study = sprintf("s%02d", 1:k),
       n1 = n1, mean1 = round(base + theta * sd_true + rnorm(k, 0, sd_true / sqrt(n1)), 2),
       sd1 = round(sd_true * sqrt(rchisq(k, n1 - 1) / (n1 - 1)), 2),
       n2 = n2, mean2 = round(base + rnorm(k, 0, sd_true / sqrt(n2)), 2),
       sd2 = round(sd_true * sqrt(rchisq(k, n2 - 1) / (n2 - 1)), 2),
       x = round(runif(k, 0, 10), 1))
}

simulate_binary <- function(k, tau2, seed) {
  set.seed(seed)
  total1 <- sample(30:400, k, replace = TRUE)
  total2 <- sample(30:400, k, replace = TRUE)
  p2 <- runif(k, 0.05, 0.4)
  p1 <- plogis(qlogis(p2) + rnorm(k, -0.4, sqrt(tau2)))
  list(study = sprintf("s%02d", 1:k), events1 = rbinom(k, total1, p1), total1 = total1,
       events2 = rbinom(k, total2, p2), total2 = total2)
}

SIM_K <- c(2, 3, 5, 8, 10, 15, 20, 30, 45, 60)
SIM_TAU2 <- c(0, 0.02, 0.05, 0.1, 0.3)
groups_for <- function(k) rep(c("a", "b", "c"), length.out = k)
for (i in seq_along(SIM_K)) {
  k <- SIM_K[i]
  tau2 <- SIM_TAU2[(i - 1) %% length(SIM_TAU2) + 1]
  measure <- if (k %in% c(5, 20, 45)) "MD" else "SMD"
  d <- simulate_continuous(k, tau2, 1000 + k)
  with_group <- k %in% c(15, 30)
  if (with_group) d$group <- groups_for(k)
  # labels that differ only in case: R orders them "face-to-face", "online", "Online"
  case_group <- if (k == 30) c(a = "online", b = "Online", c = "face-to-face")[d$group]
  make_fixture(sprintf("sim_continuous_k%02d", k),
               sprintf("Simulated arm-level means and SDs, k = %d, true tau2 = %g (SMD units), seed %d",
                       k, tau2, 1000 + k),
               "simulated in generate_fixtures.R", measure, d,
               group = if (with_group) d$group,
               moderator = if (k == 30) list(name = "x", values = d$x),
               case_group = if (k == 30) unname(case_group))

  tau2_b <- SIM_TAU2[(i + 1) %% length(SIM_TAU2) + 1]
  measure_b <- BINARY_MEASURES[(i - 1) %% 3 + 1]
  d <- simulate_binary(k, tau2_b, 2000 + k)
  with_group <- k == 20
  if (with_group) d$group <- groups_for(k)
  make_fixture(sprintf("sim_binary_k%02d", k),
               sprintf("Simulated events/totals, k = %d, true tau2 = %g (log OR), seed %d",
                       k, tau2_b, 2000 + k),
               "simulated in generate_fixtures.R", measure_b, d,
               group = if (with_group) d$group)
}

# ---------------------------------------------------------------------------------------------
# Edge cases.

make_fixture("edge_k1", "A single study (k = 1): no heterogeneity, t tests fall back to z",
             "constructed", "SMD",
             list(study = "only", n1 = 40, mean1 = 12.5, sd1 = 4.1, n2 = 38, mean2 = 10.9, sd2 = 4.4))

make_fixture("edge_tau2_zero", "Homogeneous effects, Q < df: every tau2 estimator truncated at 0",
             "constructed", "GEN",
             list(study = sprintf("s%d", 1:7), yi = c(0.21, 0.25, 0.19, 0.23, 0.2, 0.24, 0.22),
                  vi = c(0.04, 0.03, 0.05, 0.02, 0.06, 0.035, 0.045)))

make_fixture("edge_zero_cells", "Single-zero cells in several studies (continuity correction 1/2)",
             "constructed", "OR",
             list(study = sprintf("s%d", 1:6), events1 = c(0, 2, 5, 0, 9, 3),
                  total1 = c(25, 40, 60, 18, 120, 50), events2 = c(3, 0, 9, 4, 15, 0),
                  total2 = c(24, 42, 58, 20, 118, 49)))

make_fixture("edge_double_zero", "A double-zero study (dropped for RR/OR, kept for RD) and a single-zero study",
             "constructed", "RR",
             list(study = sprintf("s%d", 1:6), events1 = c(0, 0, 4, 7, 12, 2),
                  total1 = c(30, 45, 80, 100, 150, 60), events2 = c(0, 3, 9, 10, 20, 6),
                  total2 = c(32, 44, 78, 104, 149, 61)))

make_fixture("edge_sparse_binary",
             "Sparse events: the first trial has none in arm 1, a double-zero and an all-event trial",
             "constructed", "OR",
             list(study = sprintf("s%d", 1:7), events1 = c(0, 0, 30, 2, 4, 1, 3),
                  total1 = c(40, 25, 30, 50, 60, 45, 80), events2 = c(3, 0, 28, 5, 3, 6, 2),
                  total2 = c(38, 27, 28, 52, 58, 47, 79),
                  group = c("x", "x", "x", "y", "y", "z", "z")),
             group = c("x", "x", "x", "y", "y", "z", "z"))

make_fixture("edge_huge_study", "One study far larger than the others (20000 per arm)",
             "constructed", "SMD",
             list(study = sprintf("s%d", 1:6), n1 = c(20, 35, 20000, 28, 50, 15),
                  mean1 = c(14.2, 15.1, 13.05, 16.3, 14.9, 12.8), sd1 = c(5.1, 4.8, 5, 6.2, 5.5, 4.3),
                  n2 = c(22, 33, 20000, 30, 48, 16),
                  mean2 = c(12.9, 13.2, 12.95, 13.1, 13.8, 13.9), sd2 = c(4.9, 5.2, 5, 5.8, 5.1, 4.6)))

make_fixture("edge_identical_effects", "Identical effects with unequal variances: Q = 0",
             "constructed", "GEN",
             list(study = sprintf("s%d", 1:5), yi = rep(0.35, 5),
                  vi = c(0.01, 0.04, 0.02, 0.08, 0.05)))

make_fixture("edge_extreme_heterogeneity", "Widely scattered, precise effects (I2 close to 100%)",
             "constructed", "GEN",
             list(study = sprintf("s%d", 1:8), yi = c(-2.1, 1.4, 0.2, 3.3, -0.8, 2.6, 0.9, -1.5),
                  vi = c(0.004, 0.006, 0.003, 0.01, 0.005, 0.008, 0.002, 0.007)))

# R's sort() of labels in the English UTF-8 locale (the order factor() gives its levels)
collation_input <- c("b", "B", "a", "A", "ab", "a-b", "a b", "Ab", "aB", "AB", "a_c", "ac", "\u00e9",
                     "e", "E", "f", "10", "9", "1a", "group 2", "Group 1", "group1", "Zeta", "alpha",
                     "Beta", "beta", "_x", "x", "\u00c4", "a.b", "\u00f6l", "ol", "Ol", "online",
                     "Online", "face-to-face", "Face to face", "CAU", "cau", "waitlist", "Wait-list",
                     "\u00df", "ss", "st", "\u00e6", "ae", "af", "peer (group)", "peer-group", "peer")
collation_dir <- file.path("tests", "reference", "fixtures", "collation")
dir.create(collation_dir, showWarnings = FALSE)
writeLines(to_json(list(locale = s(Sys.getlocale("LC_COLLATE")), versions = lapply(VERSIONS, s),
                        input = collation_input, sorted = sort(collation_input))),
           file.path(collation_dir, "sort_en_US.json"))

cat("fixtures written to", out_dir, "\n")
