# Inputs. owner and cost_center have no default: every resource is tagged with who pays for it and who to call.
# Sizes and costs are capped here, so a typo or an over-eager agent cannot ask for more.

variable "app" {
  description = "The app's name: lowercase letters, digits and '-' (used in resource names and the app tag)."
  type        = string
  default     = "{{app}}"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,38}[a-z0-9]$", var.app))
    error_message = "app must be 2-40 characters: lowercase letters, digits and '-', starting with a letter."
  }
}

variable "owner" {
  description = "Who answers for this app: a team or a person's e-mail address (the owner tag)."
  type        = string

  validation {
    condition     = length(trimspace(var.owner)) >= 2 && length(var.owner) <= 64
    error_message = "owner is required: a team name or an e-mail address, at most 64 characters."
  }
}

variable "cost_center" {
  description = "The cost center billed for this app (the cost-center tag)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_-]{1,31}$", var.cost_center))
    error_message = "cost_center is required: 2-32 letters, digits, '-' or '_'."
  }
}

variable "environment" {
  description = "preview, staging or production."
  type        = string
  default     = "preview"

  validation {
    condition     = contains(["preview", "staging", "production"], var.environment)
    error_message = "environment must be preview, staging or production."
  }
}

variable "region" {
  description = "AWS region."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like eu-west-1."
  }
}

variable "deployer_principal_arn" {
  description = "The IAM principal (your CI's role) allowed to assume the deploy role, which can only upload this site."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]+$", var.deployer_principal_arn))
    error_message = "deployer_principal_arn must be an IAM role or user ARN."
  }
}

variable "price_class" {
  description = "CloudFront price class: which edge locations serve the site; the two cheaper classes only."
  type        = string
  default     = "PriceClass_100"

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200"], var.price_class)
    error_message = "price_class must be PriceClass_100 or PriceClass_200 (PriceClass_All is not for a micro app)."
  }
}

variable "cache_ttl_seconds" {
  description = "How long edge caches keep a page; at most one day."
  type        = number
  default     = 300

  validation {
    condition     = var.cache_ttl_seconds >= 0 && var.cache_ttl_seconds <= 86400
    error_message = "cache_ttl_seconds must be from 0 to 86400."
  }
}

variable "max_site_versions_days" {
  description = "Replaced or deleted files are kept this many days (versioning) for rollbacks; at most 90."
  type        = number
  default     = 30

  validation {
    condition     = var.max_site_versions_days >= 1 && var.max_site_versions_days <= 90
    error_message = "max_site_versions_days must be from 1 to 90."
  }
}
