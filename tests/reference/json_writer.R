# JSON writer and error capture shared by the fixture scripts (sourced, not run on its own).
#
# Every number is printed with 17 significant digits ("%.17g"), so a double survives the round
# trip exactly; NA/NaN/Inf are written as null. Needs the package jsonlite (for strings).

# jsonlite itself rounds to 15 significant digits, hence this writer.

json_number <- function(x) {
  if (is.na(x) || !is.finite(x)) return("null")
  if (x == round(x) && abs(x) < 1e15) return(format(x, scientific = FALSE))
  sprintf("%.17g", x)
}

# Plain vectors are always arrays; wrap a length-1 value in scalar() to write it unboxed.
scalar <- function(x) structure(list(x), class = "json_scalar")

to_json <- function(x) {
  if (inherits(x, "json_scalar")) return(to_json_atom(x[[1]]))
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (!is.null(names(x))) {
      items <- vapply(names(x), function(n) paste0(toJSON(n, auto_unbox = TRUE), ":", to_json(x[[n]])), "")
      return(paste0("{", paste(items, collapse = ","), "}"))
    }
    return(paste0("[", paste(vapply(x, to_json, ""), collapse = ","), "]"))
  }
  if (is.factor(x)) x <- as.character(x)
  paste0("[", paste(vapply(seq_along(x), function(i) to_json_atom(x[i]), ""), collapse = ","), "]")
}

to_json_atom <- function(v) {
  if (is.null(v) || length(v) == 0) return("null")
  if (is.factor(v)) v <- as.character(v)
  if (is.character(v)) return(if (is.na(v)) "null" else toJSON(v, auto_unbox = TRUE))
  if (is.logical(v)) return(if (is.na(v)) "null" else tolower(as.character(v)))
  json_number(as.numeric(v))
}

# Wrap every length-1 atomic leaf that is a statistic (not a per-study column) as a scalar.
s <- function(x) scalar(if (is.null(x)) NA else unname(x)[1])
v <- function(x) as.numeric(unname(x))

# Evaluate `expr`; on error return list(error = message). Warnings are kept with the result.
attempt <- function(expr) {
  warnings <- character()
  value <- withCallingHandlers(
    tryCatch(expr, error = function(e) list(error = s(conditionMessage(e)))),
    warning = function(w) {
      warnings <<- c(warnings, conditionMessage(w))
      invokeRestart("muffleWarning")
    },
    message = function(m) invokeRestart("muffleMessage"))
  if (length(warnings)) value$warnings <- unique(warnings)
  value
}
