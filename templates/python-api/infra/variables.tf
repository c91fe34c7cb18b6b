# Inputs. owner and cost_center have no default: every resource is tagged with who pays for it and who to call.
# Sizes are capped here, so a typo or an over-eager agent cannot ask for a fleet.

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

variable "container_image" {
  description = "The app's image, pinned by digest (repository@sha256:...), so what runs is what the pipeline built and signed."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._/:-]*@sha256:[a-f0-9]{64}$", var.container_image))
    error_message = "container_image must be pinned by digest: repository@sha256:<64 hex digits>."
  }
}

variable "cpu" {
  description = "CPU units for the task (1024 = one vCPU); at most 1024 for a micro app."
  type        = number
  default     = 256

  validation {
    condition     = contains([256, 512, 1024], var.cpu)
    error_message = "cpu must be 256, 512 or 1024."
  }
}

variable "memory_mb" {
  description = "Memory for the task in MiB; at most 2048 for a micro app."
  type        = number
  default     = 512

  validation {
    condition     = var.memory_mb >= 512 && var.memory_mb <= 2048 && var.memory_mb % 512 == 0
    error_message = "memory_mb must be 512, 1024, 1536 or 2048."
  }
}

variable "log_retention_days" {
  description = "How long the app's logs are kept; at most 90 days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90], var.log_retention_days)
    error_message = "log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60 or 90."
  }
}

variable "data_retention_days" {
  description = "Objects in the app's bucket expire after this many days; at most 365."
  type        = number
  default     = 90

  validation {
    condition     = var.data_retention_days >= 1 && var.data_retention_days <= 365 && floor(var.data_retention_days) == var.data_retention_days
    error_message = "data_retention_days must be a whole number from 1 to 365."
  }
}
